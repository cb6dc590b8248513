"""The build's stages as their counters show them: what each passes on, and every reason it drops the rest.

Each stage is declared once, here; the pipeline counts through it (`pipelines.metrics.count_dropped(FETCH,
reason)` counts `fetch_dropped_<reason>`, and refuses a reason the stage does not declare), and the funnel,
the drops and the conservation check of `stats.json` (`webtext.stats`) are derived from these
declarations. The reasons come from the modules that find them (`LINK_REASONS`, `FETCH_REASONS`, ...);
the few that only the pipeline itself gives are declared below.
"""

from __future__ import annotations

from dataclasses import dataclass

from webtext.extract import EXTRACT_REASONS
from webtext.filters import FILTER_REASONS
from webtext.links import INVALID_URL, LINK_REASONS, NO_URL, SELF_POST
from webtext.page import FETCH_REASONS
from webtext.submissions import LINE_REASONS
from webtext.warc import WARC_REASONS


@dataclass(frozen=True)
class Subtotal:
    """A funnel row inside a stage: what entered it, less the drops for some of its reasons."""

    name: str
    label: str
    less: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    """One step of the build as its counters show it; the funnel has a row for what it passes on."""

    name: str
    """Its drops are the counters `<name>_dropped_<reason>`, and the `stage` of its dropped records."""
    passed: str
    """The counter of what it passes on to the next stage."""
    label: str
    """The printed funnel's name for that row."""
    reasons: tuple[str, ...] = ()
    """Every reason it drops something for; any other is a programming error."""
    entered: str | None = None
    """The counter of what enters it, for the first stage (the others take what the one before passed)."""
    entered_label: str = ""
    """The printed funnel's name for that row."""
    subtotal: Subtotal | None = None
    """A row between what entered and what passed (link posts: submissions less the self posts)."""
    merges: bool = False
    """Several inputs become one output (links to one URL): what enters it is not what leaves plus drops."""
    counters: tuple[str, ...] = ()
    """What else it counts (files read, pairs verified, ...)."""
    notes: tuple[tuple[str, str], ...] = ()
    """(counter, label) of those the printed funnel shows on the stage's row, next to the drops."""

    def __post_init__(self) -> None:
        if len(set(self.reasons)) != len(self.reasons):
            raise ValueError(f"stage {self.name} declares a reason twice: {self.reasons}")
        if not {counter for counter, _ in self.notes} <= set(self.counters):
            raise ValueError(f"stage {self.name} notes a counter it does not declare: {self.notes}")

    def drop_counter(self, reason: str) -> str:
        """The counter of the stage's drops for `reason`; a reason it does not declare raises ValueError."""
        if reason not in self.reasons:
            raise ValueError(f"stage {self.name} declares no drop reason {reason!r}")
        return f"{self.name}_dropped_{reason}"


# Reasons that only the pipeline gives.
DUPLICATE = "duplicate"
"""A submission seen again (another dump, a re-crawl): one copy is kept."""
HOST_URL_CAP = "host_url_cap"
"""A live crawl's URLs of one host past `FetchConfig.max_urls_per_host`."""
NOT_IN_WARC = "not_in_warc"
"""A kept URL with no response in the WARC files replayed."""
EXACT_DUPLICATE = "exact_duplicate"
"""The same normalized text as a document kept instead."""
NEAR_DUPLICATE = "near_duplicate"
"""In a cluster of near duplicates whose representative is another document."""

# Counters of other things than the documents that flow through the stages.
DUMP_FILES = "dump_files"
DUMP_FILES_TRUNCATED = "dump_files_truncated"
"""Dump files that end in damage; the lines before it are read."""
WARC_FILES = "warc_files"
WARC_RECORDS_UNUSED = "warc_records_unused"
"""WARC responses for URLs no kept link asked for."""
VERIFIED_PAIRS = "near_dedup_verified_pairs"
"""Candidate pairs whose shingle sets are similar enough to be near duplicates."""
CLUSTERS = "near_dedup_clusters"
"""Clusters of two documents or more."""
SHARDS_WRITTEN = "shards_written"


SUBMISSIONS = Stage(
    "submissions",
    passed="submissions",
    label="unique submissions",
    reasons=(*LINE_REASONS, DUPLICATE),
    entered="submission_lines",
    entered_label="submission lines read",
    counters=(DUMP_FILES, DUMP_FILES_TRUNCATED),
    notes=((DUMP_FILES_TRUNCATED, "truncated dump files"),),
)
LINKS = Stage(
    "links",
    passed="links_kept",
    label="links kept",
    reasons=LINK_REASONS,
    subtotal=Subtotal("link_posts", "link posts", less=(SELF_POST, NO_URL)),
)
URLS = Stage("urls", passed="unique_urls", label="unique URLs", merges=True)
FETCH = Stage(
    "fetch",
    passed="pages_fetched",
    label="pages fetched",
    reasons=(*FETCH_REASONS, HOST_URL_CAP, NOT_IN_WARC),
)
EXTRACT = Stage("extract", passed="documents_extracted", label="documents extracted", reasons=EXTRACT_REASONS)
FILTER = Stage("filter", passed="documents_passed_filters", label="passed filters", reasons=FILTER_REASONS)
DEDUP = Stage("dedup", passed="documents_unique", label="unique documents", reasons=(EXACT_DUPLICATE,))
NEAR_DEDUP = Stage(
    "near_dedup",
    passed="documents_near_unique",
    label="after near-dedup",
    reasons=(NEAR_DUPLICATE,),
    counters=(VERIFIED_PAIRS, CLUSTERS),
)
WRITE = Stage("write", passed="documents_written", label="documents written", counters=(SHARDS_WRITTEN,))

PIPELINE = (SUBMISSIONS, LINKS, URLS, FETCH, EXTRACT, FILTER, DEDUP, NEAR_DEDUP, WRITE)
"""The stages in order: each takes in what the one before passed on."""

WARC = Stage(
    "warc",
    passed="warc_records",
    label="WARC records",
    reasons=(*WARC_REASONS, INVALID_URL),
    counters=(WARC_FILES, WARC_RECORDS_UNUSED),
)
"""Reading WARC files for a replay: a side input of FETCH, whose records are not the documents' flow."""

STAGES = (*PIPELINE, WARC)
