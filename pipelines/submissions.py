"""From Reddit's submissions to the URLs WebText fetches: ReadSubmissions | SelectLinks | DedupURLs.

Every dump line is a submission or dropped with its reason, every submission's link kept or dropped with
its reason (the paper's at least 3 karma, no Wikipedia, ...), and the kept links merged to one element
per canonical URL, carrying every submission that linked it.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from bpe.compression import DECOMPRESSION_ERRORS, decompressing
from pipelines.files import MatchPaths
from pipelines.metrics import count, count_dropped, count_passed
from webtext.links import INVALID_URL, LinkRules, Provenance, canonical_url, rejection
from webtext.stages import DUMP_FILES, DUMP_FILES_TRUNCATED, DUPLICATE, LINKS, SUBMISSIONS, URLS
from webtext.submissions import Submission, parse_submission

# ---------------------------------------------------------------------- ReadSubmissions


def read_submissions(path: str) -> Iterator[Submission]:
    """Every submission in one dump file; bad lines are counted by reason, a corrupt file's tail too."""
    count(DUMP_FILES)
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
                    count_dropped(SUBMISSIONS, parsed)
                else:
                    yield parsed
    except DECOMPRESSION_ERRORS:
        count(DUMP_FILES_TRUNCATED)  # what was read before the damage is kept
    count(SUBMISSIONS.entered, lines)


def latest_copy(submission_id: str, copies: Iterable[Submission]) -> Submission:
    """One submission seen in several dumps (re-crawls, overlapping files): its highest score wins,
    then the most complete record, so provenance sums count it once and the choice never varies."""
    copies = list(copies)
    if len(copies) > 1:
        count_dropped(SUBMISSIONS, DUPLICATE, len(copies) - 1)
    count_passed(SUBMISSIONS)
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
    reason = rejection(submission, rules)
    url = canonical_url(submission.url) if reason is None else None
    if reason is None and url is None:
        reason = INVALID_URL
    if reason is not None:
        count_dropped(LINKS, reason)
        return
    count_passed(LINKS)
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
    count_passed(URLS)
    return item


class DedupURLs(beam.PTransform):
    """(canonical URL, Provenance) -> one element per URL, with every submission that linked it."""

    def expand(
        self, links: beam.PCollection[tuple[str, Provenance]]
    ) -> beam.PCollection[tuple[str, Provenance]]:
        return links | "Merge" >> beam.CombinePerKey(MergeProvenance()) | "Count" >> beam.Map(count_unique)
