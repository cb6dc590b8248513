"""The WebText pipeline on Apache Beam, step by step as the paper describes it.

    ReadSubmissions | SelectLinks | DedupURLs | ...

Each step is a composite transform over plain functions from `webtext/`, which are tested without
Beam. Every dropped line, link or document is a Beam counter named `<stage>_dropped_<reason>`, so the
funnel and its reasons can be read back from the pipeline's metrics.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics

from pipelines.files import MatchPaths
from webtext.compression import DECOMPRESSION_ERRORS, decompressing
from webtext.links import LinkRules, Provenance, canonical_url, rejection
from webtext.submissions import Submission, parse_submission

METRICS_NAMESPACE = "webtext"


def _count(name: str, value: int = 1) -> None:
    Metrics.counter(METRICS_NAMESPACE, name).inc(value)


# ---------------------------------------------------------------------- ReadSubmissions


def read_submissions(path: str) -> Iterator[Submission]:
    """Every submission in one dump file; bad lines are counted by reason, a corrupt file's tail too."""
    _count("dump_files")
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
                    _count(f"submissions_dropped_{parsed}")
                else:
                    yield parsed
    except DECOMPRESSION_ERRORS:
        _count("dump_files_truncated")  # what was read before the damage is kept
    _count("submission_lines", lines)


def latest_copy(submission_id: str, copies: Iterable[Submission]) -> Submission:
    """One submission seen in several dumps (re-crawls, overlapping files): its highest score wins,
    then the most complete record, so provenance sums count it once and the choice never varies."""
    copies = list(copies)
    if len(copies) > 1:
        _count("submissions_dropped_duplicate", len(copies) - 1)
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
    _count("submissions")
    reason = rejection(submission, rules)
    url = canonical_url(submission.url) if reason is None else None
    if reason is None and url is None:
        reason = "invalid_url"
    if reason is not None:
        _count(f"links_dropped_{reason}")
        return
    _count("links_kept")
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
    """Provenance.merge is associative and commutative, so the result is the same on any runner."""

    def create_accumulator(self) -> Provenance | None:
        return None

    def add_input(self, accumulator: Provenance | None, value: Provenance) -> Provenance:
        return value if accumulator is None else accumulator.merge(value)

    def merge_accumulators(self, accumulators) -> Provenance | None:
        merged = None
        for accumulator in accumulators:
            if accumulator is not None:
                merged = accumulator if merged is None else merged.merge(accumulator)
        return merged

    def extract_output(self, accumulator: Provenance | None) -> Provenance | None:
        return accumulator


def count_unique(item: tuple[str, Provenance]) -> tuple[str, Provenance]:
    _count("unique_urls")
    return item


class DedupURLs(beam.PTransform):
    """(canonical URL, Provenance) -> one element per URL, with every submission that linked it."""

    def expand(
        self, links: beam.PCollection[tuple[str, Provenance]]
    ) -> beam.PCollection[tuple[str, Provenance]]:
        return links | "Merge" >> beam.CombinePerKey(MergeProvenance()) | "Count" >> beam.Map(count_unique)
