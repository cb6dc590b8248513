"""The WebText pipeline on Apache Beam, step by step as the paper describes it.

    ReadSubmissions | SelectLinks | DedupURLs | Fetch (live or ReplayWarc) | Extract | Filter
        | ExactDedup | WriteShards

Each step is a composite transform over plain functions from `webtext/`, which are tested without
Beam. Every dropped line, link or document is a Beam counter named `<stage>_dropped_<reason>`, so the
funnel and its reasons can be read back from the pipeline's metrics; dropped documents also go to a
side output (`Dropped`) that `run` can write out.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import operator
import queue
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

import apache_beam as beam
import trafilatura
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindows

from pipelines.components import ConnectedComponents
from pipelines.files import MatchPaths, write_atomically
from pipelines.metrics import count, read_counters
from webtext.compression import DECOMPRESSION_ERRORS, decompressing
from webtext.config import BuildConfig
from webtext.crawler import Crawler
from webtext.extract import ExtractConfig, Extracted
from webtext.extractor import Extractor
from webtext.fetch import FetchConfig, Fetcher
from webtext.filters import FilterRules, filter_rejection, normalized_text_hash
from webtext.hosts import host_key
from webtext.links import LinkRules, Provenance, canonical_url, rejection
from webtext.near_dedup import (
    NearDedupConfig,
    band_keys,
    candidate_pairs,
    shingle_hashes,
    signature_of_shingles,
)
from webtext.page import Page, page_rejection
from webtext.settings import as_json
from webtext.shards import (
    SHARD_GLOB,
    Document,
    ShardConfig,
    document_id,
    shard_name,
    shard_of,
    write_documents,
)
from webtext.stats import build_stats
from webtext.submissions import Submission, parse_submission
from webtext.warc import WarcPageWriter, read_pages

STATS_FILE = "stats.json"
NOT_IN_WARC = "not_in_warc"
HOST_URL_CAP = "host_url_cap"
EXTRACTOR = f"trafilatura {trafilatura.__version__}"


# ---------------------------------------------------------------------- ReadSubmissions


def read_submissions(path: str) -> Iterator[Submission]:
    """Every submission in one dump file; bad lines are counted by reason, a corrupt file's tail too."""
    count("dump_files")
    lines = 0
    try:
        with (
            FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw,
            decompressing(raw, path) as stream,
        ):
            for line in stream:
                if not line.strip():
                    continue
                lines += 1
                parsed = parse_submission(line)
                if isinstance(parsed, str):
                    count(f"submissions_dropped_{parsed}")
                else:
                    yield parsed
    except DECOMPRESSION_ERRORS:
        count("dump_files_truncated")  # what was read before the damage is kept
    count("submission_lines", lines)


def latest_copy(submission_id: str, copies: Iterable[Submission]) -> Submission:
    """One submission seen in several dumps (re-crawls, overlapping files): its highest score wins,
    then the most complete record, so provenance sums count it once and the choice never varies."""
    copies = list(copies)
    if len(copies) > 1:
        count("submissions_dropped_duplicate", len(copies) - 1)
    return max(
        copies, key=lambda s: (s.score, s.over_18, s.is_self, s.subreddit, s.url, s.title, s.created_utc)
    )


class ReadSubmissions(beam.PTransform):
    """Pushshift dump files (NDJSON, plain or .zst/.xz/.bz2/.gz) -> Submission, one per id.

    Compressed files cannot be split, so each is read whole by one worker; grouping by id (which
    also drops repeated submissions) spreads them over all workers for the steps that follow.
    """

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection[Submission]:
        return (
            pipeline
            | "Files" >> MatchPaths(self.patterns)
            | "Read" >> beam.FlatMap(read_submissions)
            | "ById" >> beam.WithKeys(operator.attrgetter("id"))
            | "Group" >> beam.GroupByKey()
            | "OnePerId" >> beam.MapTuple(latest_copy)
        )


# ---------------------------------------------------------------------- SelectLinks


def select_link(submission: Submission, rules: LinkRules) -> Iterator[tuple[str, Provenance]]:
    """(canonical URL, provenance) for a kept link; a dropped one is counted by its reason."""
    count("submissions")
    reason = rejection(submission, rules)
    url = canonical_url(submission.url) if reason is None else None
    if reason is None and url is None:
        reason = "invalid_url"
    if reason is not None:
        count(f"links_dropped_{reason}")
        return
    count("links_kept")
    yield url, Provenance.of(submission)


class SelectLinks(beam.PTransform):
    """Submission -> (canonical URL, Provenance) for the outbound links WebText keeps (LinkRules)."""

    def __init__(self, rules: LinkRules):
        super().__init__()
        self.rules = rules

    def expand(self, submissions: beam.PCollection[Submission]) -> beam.PCollection[tuple[str, Provenance]]:
        return submissions | "Select" >> beam.FlatMap(select_link, rules=self.rules)


# ---------------------------------------------------------------------- DedupURLs


class MergeProvenance(beam.CombineFn):
    """All submissions linking one URL -> one Provenance, in linear time (a popular URL can have
    100,000 links): the accumulator is updated in place and sorted once. Merging is order-free, so the
    result is the same on any runner."""

    def create_accumulator(self) -> list:
        return [set(), set(), 0, None, None]  # ids, subreddits, score sum, score max, (created, id)

    def add_input(self, accumulator: list, value: Provenance) -> list:
        first = (value.first_created_utc, value.first_submission_id)
        return _fold(
            accumulator, value.submission_ids, value.subreddits, value.score_sum, value.score_max, first
        )

    def merge_accumulators(self, accumulators) -> list:
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            _fold(merged, *other)
        return merged

    def extract_output(self, accumulator: list) -> Provenance | None:
        ids, subreddits, score_sum, score_max, first = accumulator
        if first is None:
            return None
        return Provenance(tuple(sorted(ids)), tuple(sorted(subreddits)), score_sum, score_max, *first)


def _fold(accumulator: list, ids, subreddits, score_sum: int, score_max: int | None, first) -> list:
    accumulator[0].update(ids)
    accumulator[1].update(subreddits)
    accumulator[2] += score_sum
    if score_max is not None:
        accumulator[3] = score_max if accumulator[3] is None else max(accumulator[3], score_max)
        accumulator[4] = first if accumulator[4] is None else min(accumulator[4], first)
    return accumulator


def count_unique(item: tuple[str, Provenance]) -> tuple[str, Provenance]:
    count("unique_urls")
    return item


class DedupURLs(beam.PTransform):
    """(canonical URL, Provenance) -> one element per URL, with every submission that linked it."""

    def expand(
        self, links: beam.PCollection[tuple[str, Provenance]]
    ) -> beam.PCollection[tuple[str, Provenance]]:
        return links | "Merge" >> beam.CombinePerKey(MergeProvenance()) | "Count" >> beam.Map(count_unique)


# ---------------------------------------------------------------------- dropped documents

DROPPED = "dropped"
"""The tag of every document step's side output of `Dropped` records."""


@dataclass(frozen=True)
class Dropped:
    """A URL or document that left the pipeline, and why."""

    url: str
    stage: str
    reason: str
    duplicate_of: str | None = None
    """For deduplication: the id of the document that was kept instead."""

    def as_json(self) -> str:
        return json.dumps({key: value for key, value in asdict(self).items() if value is not None})


def _drop(url: str, stage: str, reason: str, duplicate_of: str | None = None) -> beam.pvalue.TaggedOutput:
    count(f"{stage}_dropped_{reason}")
    return beam.pvalue.TaggedOutput(DROPPED, Dropped(url, stage, reason, duplicate_of))


def _with_dropped(step: beam.PTransform, label: str, items: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
    return items | label >> step.with_outputs(DROPPED, main="kept")


# ---------------------------------------------------------------------- Fetch


@dataclass(frozen=True)
class Fetched:
    """A page fetched for a kept URL, with the Reddit provenance of that URL."""

    url: str
    provenance: Provenance
    page: Page
    source: str
    """"live" or "warc"."""


def _fetched_or_dropped(url: str, provenance: Provenance, outcome: Page | str, source: str):
    if isinstance(outcome, str):
        return _drop(url, "fetch", outcome)
    count("pages_fetched")
    return Fetched(url, provenance, outcome, source)


class FetchHostsFn(beam.DoFn):
    """(host, links) -> Fetched | Dropped, many hosts in flight at once on a thread pool.

    The hosts of a bundle are queued on the `Crawler` as they arrive and their pages emitted as they
    finish; what is still in flight when the bundle ends is emitted by `finish_bundle`.
    """

    def __init__(self, config: FetchConfig):
        self.config = config

    def setup(self) -> None:
        self._fetcher = Fetcher(self.config)
        self._crawler = Crawler(self._fetcher, threads=self.config.threads)

    def process(self, element: tuple[str, Iterable[tuple[str, Provenance]]]):
        host, links = element
        links = sorted(links, key=lambda link: (-link[1].score_max, link[0]))  # the best-voted first
        if self.config.max_urls_per_host:
            # A host's URLs are fetched one after another: a cap bounds the slowest host's time.
            for url, _ in links[self.config.max_urls_per_host :]:
                yield _drop(url, "fetch", HOST_URL_CAP)
            links = links[: self.config.max_urls_per_host]
        self._crawler.submit(host, links)
        for url, provenance, outcome in self._crawler.ready():
            yield _fetched_or_dropped(url, provenance, outcome, "live")

    def finish_bundle(self):
        for url, provenance, outcome in self._crawler.drain():
            yield _windowed(_fetched_or_dropped(url, provenance, outcome, "live"))

    def teardown(self) -> None:
        self._crawler.close()
        self._fetcher.close()


class FetchLive(beam.PTransform):
    """(URL, Provenance) -> Fetched over HTTP, politely: URLs are grouped by host before fetching."""

    def __init__(self, config: FetchConfig):
        super().__init__()
        self.config = config

    def expand(self, urls: beam.PCollection[tuple[str, Provenance]]) -> beam.pvalue.DoOutputsTuple:
        by_host = (
            urls
            | "ByHost" >> beam.Map(lambda item: (host_key(item[0]), item))
            | "GroupByHost" >> beam.GroupByKey()
        )
        fetch = FetchHostsFn(self.config)
        return _with_dropped(beam.ParDo(fetch), "Fetch", by_host)


def read_warc(path: str) -> Iterator[tuple[str, Page]]:
    """(canonical URL asked for, Page) for every response in one WARC file; bad records counted."""
    count("warc_files")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        for item in read_pages(stream, path):
            if isinstance(item, str):
                count(f"warc_dropped_{item}")
                continue
            url = canonical_url(item.url)
            if url is None:
                count("warc_dropped_invalid_url")
                continue
            count("warc_records")
            yield url, item


def _newest(pages: Iterable[Page]) -> Page | None:
    """A URL crawled more than once: the newest successful response, the choice independent of order."""
    return max(
        pages,
        key=lambda page: (200 <= page.status < 300, page.fetched_at, page.final_url, page.body),
        default=None,
    )


def replay(element: tuple[str, dict[str, list]]):
    url, joined = element
    pages = joined["pages"]
    if not joined["links"]:
        count("warc_records_unused", len(list(pages)))
        return
    (provenance,) = joined["links"]
    page = _newest(pages)
    outcome = NOT_IN_WARC if page is None else page_rejection(page) or page
    yield _fetched_or_dropped(url, provenance, outcome, "warc")


class ReplayWarc(beam.PTransform):
    """(URL, Provenance) -> Fetched from WARC files (a Common Crawl extract or an earlier crawl), joined
    on the canonical URL; a kept URL with no response in them is dropped as `not_in_warc`."""

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, urls: beam.PCollection[tuple[str, Provenance]]) -> beam.pvalue.DoOutputsTuple:
        pages = (
            urls.pipeline | "WarcFiles" >> MatchPaths(self.patterns) | "ReadWarc" >> beam.FlatMap(read_warc)
        )
        joined = {"links": urls, "pages": pages} | "JoinOnUrl" >> beam.CoGroupByKey()
        return _with_dropped(beam.FlatMap(replay), "Replay", joined)


class WarcSink(fileio.FileSink):
    """Fetched pages -> one WARC file per writer, for rerunning extraction without refetching."""

    def create_metadata(self, destination: str, full_file_name: str) -> fileio.FileMetadata:
        return fileio.FileMetadata(
            "application/warc", CompressionTypes.UNCOMPRESSED
        )  # records gzip themselves

    def open(self, fh) -> None:
        self._writer = WarcPageWriter(fh)

    def write(self, record: Fetched) -> None:
        self._writer.write(record.page)

    def flush(self) -> None:
        self._writer.flush()


class SaveWarc(beam.PTransform):
    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory

    def expand(self, fetched: beam.PCollection[Fetched]):
        return fetched | "WriteWarc" >> fileio.WriteToFiles(
            self.directory,
            file_naming=fileio.default_file_naming("crawl", ".warc.gz"),
            sink=lambda destination: WarcSink(),
        )


# ---------------------------------------------------------------------- Extract


class ExtractFn(beam.DoFn):
    """Fetched -> Document with trafilatura, in child processes that are killed past the time limit.

    Pages go to `config.processes` children through as many threads (each waits on its child's pipe,
    so the GIL is free): with one child, Beam's own work on a page overlaps the extraction of the next;
    with more, pages are extracted in parallel. Outputs keep the input order; a bundle's last pages are
    emitted by `finish_bundle`.
    """

    def __init__(self, config: ExtractConfig):
        self.config = config

    def setup(self) -> None:
        self._extractors = [Extractor(self.config) for _ in range(self.config.processes)]
        self._idle: queue.SimpleQueue[Extractor] = queue.SimpleQueue()
        for extractor in self._extractors:
            self._idle.put(extractor)
        self._pool = ThreadPoolExecutor(self.config.processes, thread_name_prefix="extract")
        self._pending: collections.deque[Future] = collections.deque()

    def _extract(self, fetched: Fetched) -> tuple[Fetched, Extracted | str]:
        extractor = self._idle.get()
        try:
            page = fetched.page
            return fetched, extractor.extract(page.body, page.charset, page.final_url)
        finally:
            self._idle.put(extractor)

    def process(self, fetched: Fetched):
        self._pending.append(self._pool.submit(self._extract, fetched))
        while self._pending and (self._pending[0].done() or len(self._pending) > 2 * self.config.processes):
            yield _document_or_dropped(*self._pending.popleft().result())

    def finish_bundle(self):
        while self._pending:
            yield _windowed(_document_or_dropped(*self._pending.popleft().result()))

    def teardown(self) -> None:
        self._pool.shutdown()
        for extractor in self._extractors:
            extractor.close()


def _document_or_dropped(fetched: Fetched, result: Extracted | str):
    if isinstance(result, str):
        return _drop(fetched.url, "extract", result)
    count("documents_extracted")
    return Document.from_page(
        fetched.url,
        fetched.provenance,
        fetched.page,
        fetched.source,
        text=result.text,
        title=result.title,
        charset=result.charset,
        published=result.date,
        author=result.author,
        sitename=result.sitename,
        description=result.description,
        extractor=EXTRACTOR,
    )


def _windowed(output):
    """An output of finish_bundle, which must carry its window (the global one here)."""
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(output.tag, GlobalWindows.windowed_value(output.value))
    return GlobalWindows.windowed_value(output)


class Extract(beam.PTransform):
    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config

    def expand(self, fetched: beam.PCollection[Fetched]) -> beam.pvalue.DoOutputsTuple:
        return _with_dropped(beam.ParDo(ExtractFn(self.config)), "Extract", fetched)


# ---------------------------------------------------------------------- Filter


def filter_document(document: Document, rules: FilterRules):
    """The document with its language and text hash, or dropped with the first rule it fails."""
    verdict = filter_rejection(document.text, rules)
    if verdict.reason is not None:
        yield _drop(document.canonical_url, "filter", verdict.reason)
        return
    count("documents_passed_filters")
    yield replace(
        document,
        language=verdict.language,
        language_score=verdict.language_score,
        words=verdict.words,
        text_hash=normalized_text_hash(document.text),
    )


class Filter(beam.PTransform):
    def __init__(self, rules: FilterRules):
        super().__init__()
        self.rules = rules

    def expand(self, documents: beam.PCollection[Document]) -> beam.pvalue.DoOutputsTuple:
        return _with_dropped(beam.FlatMap(filter_document, rules=self.rules), "Filter", documents)


# ---------------------------------------------------------------------- ExactDedup


def keep_first(text_hash: str, copies: Iterable[Document]):
    """One document per normalized text: the highest score, then the earliest submission, wins.

    Two passes over the group (Beam iterables can be re-read) so a huge group is never held in memory.
    """
    winner = min(copies, key=Document.rank)
    duplicates = 0
    for copy in copies:
        if copy.canonical_url != winner.canonical_url:
            duplicates += 1
            yield _drop(copy.canonical_url, "dedup", "exact_duplicate", duplicate_of=winner.id)
    count("documents_unique")
    yield replace(winner, exact_duplicates=duplicates)


class ExactDedup(beam.PTransform):
    def expand(self, documents: beam.PCollection[Document]) -> beam.pvalue.DoOutputsTuple:
        grouped = (
            documents
            | "ByTextHash" >> beam.WithKeys(operator.attrgetter("text_hash"))
            | "GroupByText" >> beam.GroupByKey()
        )
        return _with_dropped(beam.FlatMapTuple(keep_first), "KeepFirst", grouped)


# ---------------------------------------------------------------------- NearDedup


SHINGLES = "shingles"


def band_memberships(document: Document, config: NearDedupConfig):
    """(band key, rank) for each LSH band, and once (tagged SHINGLES) the document's shingle hashes."""
    hashes = shingle_hashes(document.text, config.ngram)
    rank = document.rank()
    for key in band_keys(signature_of_shingles(hashes, config), config):
        yield key, rank
    yield beam.pvalue.TaggedOutput(SHINGLES, (rank, hashes))


def shared_buckets(bucket: tuple[bytes, Iterable[tuple]]) -> Iterator[tuple[tuple, bytes]]:
    """(rank, band key) for every member of a bucket that has company; almost every bucket has none."""
    band_key, ranks = bucket
    if next(itertools.islice(ranks, 1, None), None) is None:
        return
    for rank in ranks:
        yield rank, band_key


def candidate_entries(element: tuple[tuple, dict[str, list]]) -> Iterator[tuple[bytes, tuple]]:
    """(band key, (rank, shingle hashes)) for each shared bucket of a document: verification needs the sets."""
    rank, joined = element
    if joined["buckets"]:
        (hashes,) = joined["shingles"]
        for band_key in joined["buckets"]:
            yield band_key, (rank, hashes)


def verified_pairs(bucket: tuple[bytes, Iterable[tuple]], config: NearDedupConfig) -> Iterator[tuple]:
    for pair in candidate_pairs(bucket[1], config):
        count("near_dedup_verified_pairs")
        yield pair


def cluster_members(representative: tuple, members: Iterable[tuple]) -> Iterator[tuple[tuple, tuple]]:
    """(member, (representative, cluster size)) for every member; the group is read twice, never held."""
    size = sum(1 for _ in members)
    count("near_dedup_clusters")
    for member in members:
        yield member, (representative, size)


def keep_representative(element: tuple[tuple, dict[str, list]]):
    """A document alone, or its cluster's representative, is kept with the cluster's id and size."""
    rank, joined = element
    (document,) = joined["document"]
    (representative, size), *_ = joined["cluster"] or [(rank, 1)]
    if representative != rank:
        yield _drop(
            document.canonical_url,
            "near_dedup",
            "near_duplicate",
            duplicate_of=document_id(representative[-1]),
        )
        return
    count("documents_near_unique")
    yield replace(document, cluster_id=document.id, cluster_size=size)


def skip_near_dedup(document: Document) -> Document:
    count("documents_near_unique")
    return replace(document, cluster_id=document.id)


class NearDedup(beam.PTransform):
    """Document -> one document per cluster of near duplicates (MinHash LSH), with shuffles only.

    Band keys group candidates (a GroupByKey per band key, no index in memory), pairs are verified by
    exact shingle Jaccard inside each shared bucket, clusters are the connected components of the verified
    pairs, and each cluster keeps its best document by `Document.rank` (highest score, then earliest
    submission), the same rule as ExactDedup.
    """

    def __init__(self, config: NearDedupConfig):
        super().__init__()
        self.config = config

    def expand(self, documents: beam.PCollection[Document]) -> beam.pvalue.DoOutputsTuple:
        # Two groupings keep the shuffle small: band keys with ranks only (20 short records a document),
        # then shingle sets only for the documents that share a bucket with another.
        bands = documents | "BandKeys" >> beam.FlatMap(band_memberships, self.config).with_outputs(
            SHINGLES, main="memberships"
        )
        shared = (
            bands.memberships
            | "GroupByBand" >> beam.GroupByKey()
            | "SharedBuckets" >> beam.FlatMap(shared_buckets)
        )
        pairs = (
            {"buckets": shared, "shingles": bands[SHINGLES]}
            | "JoinShingles" >> beam.CoGroupByKey()
            | "CandidateEntries" >> beam.FlatMap(candidate_entries)
            | "GroupCandidates" >> beam.GroupByKey()
            | "Verify" >> beam.FlatMap(verified_pairs, self.config)
            | "DistinctPairs" >> beam.Distinct()
        )
        clusters = (
            pairs
            | "Components" >> ConnectedComponents(self.config.components_rounds)
            | "ByRepresentative" >> beam.KvSwap()
            | "GroupByCluster" >> beam.GroupByKey()
            | "ClusterSizes" >> beam.FlatMapTuple(cluster_members)
        )
        by_rank = documents | "ByRank" >> beam.WithKeys(Document.rank)
        joined = {"document": by_rank, "cluster": clusters} | "JoinClusters" >> beam.CoGroupByKey()
        return _with_dropped(beam.FlatMap(keep_representative), "KeepRepresentatives", joined)


# ---------------------------------------------------------------------- WriteShards


def shard_count(text_bytes: int, num_shards: int, shard_bytes: int) -> int:
    """`num_shards` if given, else as many as keep each shard's text near `shard_bytes`."""
    return num_shards or max(1, math.ceil(text_bytes / shard_bytes))


def write_shard(shard: tuple[int, Iterable[Document]], directory: str, shards: int) -> str:
    """Writes one shard under a temporary name and renames it, so no partial shard is ever visible."""
    index, documents = shard
    final, written = write_atomically(
        directory, shard_name(index, shards), lambda stream: write_documents(documents, stream)
    )
    count("shards_written")
    count("documents_written", written)
    return final


class WriteShards(beam.PTransform):
    """Document -> `documents-SSSSS-of-NNNNN.parquet`; a document's shard is a hash of its id, so the
    shards' contents are the same on every run and runner."""

    def __init__(self, directory: str, config: ShardConfig | None = None):
        super().__init__()
        self.directory = directory
        self.config = config or ShardConfig()

    def expand(self, documents: beam.PCollection[Document]) -> beam.PCollection[str]:
        shards = beam.pvalue.AsSingleton(
            documents
            | "TextBytes" >> beam.Map(lambda document: len(document.text.encode("utf-8", "surrogatepass")))
            | "Total" >> beam.CombineGlobally(sum)
            | "ShardCount" >> beam.Map(shard_count, self.config.num_shards, self.config.shard_size_mb << 20)
        )
        return (
            documents
            | "ToShard" >> beam.Map(lambda document, n: (shard_of(document.id, n), document), shards)
            | "GroupByShard" >> beam.GroupByKey()
            | "Write" >> beam.Map(write_shard, self.directory, shards)
        )


# ---------------------------------------------------------------------- the whole build


def build(pipeline: beam.Pipeline, config: BuildConfig) -> None:
    """The paper's method section as a Beam graph."""
    urls = (
        pipeline
        | "ReadSubmissions" >> ReadSubmissions(config.submissions)
        | "SelectLinks" >> SelectLinks(config.links)
        | "DedupURLs" >> DedupURLs()
    )
    if config.warc:
        fetched = urls | "ReplayWarc" >> ReplayWarc(config.warc)
    else:
        fetched = urls | "Fetch" >> FetchLive(config.fetch)
        if config.fetch.save_warc:
            fetched.kept | "SaveWarc" >> SaveWarc(FileSystems.join(config.out, "warc"))
    extracted = fetched.kept | "Extract" >> Extract(config.extract)
    filtered = extracted.kept | "Filter" >> Filter(config.filter)
    unique = filtered.kept | "ExactDedup" >> ExactDedup()
    steps = [fetched, extracted, filtered, unique]
    if not config.near_dedup.enabled:
        kept = unique.kept | "SkipNearDedup" >> beam.Map(skip_near_dedup)
    else:
        steps.append(unique.kept | "NearDedup" >> NearDedup(config.near_dedup))
        kept = steps[-1].kept
    kept | "WriteShards" >> WriteShards(config.out, config.shards)
    if config.shards.write_dropped:
        (
            tuple(step.dropped for step in steps)
            | "AllDropped" >> beam.Flatten()
            | "DroppedJson" >> beam.Map(Dropped.as_json)
            | "WriteDropped"
            >> beam.io.WriteToText(FileSystems.join(config.out, "dropped", "dropped"), ".jsonl.gz")
        )


def existing_outputs(out: str) -> list[str]:
    return [
        metadata.path
        for result in FileSystems.match(
            [FileSystems.join(out, SHARD_GLOB), FileSystems.join(out, STATS_FILE)]
        )
        for metadata in result.metadata_list
    ]


def run(config: BuildConfig, pipeline_args: Sequence[str] = ()) -> dict:
    """Build the corpus into `config.out`; returns the stats also written to `out/stats.json`."""
    for result in FileSystems.match([*config.submissions, *config.warc]):
        if not result.metadata_list:
            raise FileNotFoundError(f"{result.pattern}: no files match")
    stale = existing_outputs(config.out)
    if stale:
        # Shards of an earlier run with another shard count would mix with this run's.
        raise FileExistsError(f"{config.out}: already holds a build ({stale[0]}); use an empty directory")
    started = time.time()
    pipeline = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    build(pipeline, config)
    result = pipeline.run()
    result.wait_until_finish()
    counters = read_counters(result)
    shards = sorted(
        metadata.path
        for metadata in FileSystems.match([FileSystems.join(config.out, SHARD_GLOB)])[0].metadata_list
    )
    stats = build_stats(
        counters,
        shards=[path.rsplit("/", 1)[-1] for path in shards],
        seconds=round(time.time() - started, 1),
        source=config.source,
        config=as_json(config),
    )
    with FileSystems.create(FileSystems.join(config.out, STATS_FILE)) as stream:
        stream.write((json.dumps(stats, indent=2) + "\n").encode())
    return stats
