"""Everything `webtext build` can be told, one table per stage: the shape of its config file.

Each setting is declared once, as a field of a stage's dataclass with its default and docstring; the
command line flags, `--config run.toml`, `--print-config` and the `config` that stats.json records are
all derived from these declarations (`webtext.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from webtext.extract import ExtractConfig
from webtext.fetch import FetchConfig
from webtext.filters import FilterRules
from webtext.links import LinkRules
from webtext.near_dedup import NearDedupConfig
from webtext.shards import ShardConfig


@dataclass(frozen=True)
class BuildConfig:
    """A whole build: its inputs and output, then each stage's settings (the paper's where it says)."""

    submissions: tuple[str, ...]
    """Pushshift dump files (globs; any Beam filesystem)."""
    out: str
    """Output directory for shards and stats.json (local or e.g. gs://)."""
    warc: tuple[str, ...] = ()
    """Replay pages from these WARC files (globs) instead of fetching live."""
    fetch_source: Literal["live", "warc"] | None = field(default=None, metadata={"flag": "fetch"})
    """Where pages come from; default: warc when warc files are given, else live."""
    links: LinkRules = field(default_factory=LinkRules)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    filter: FilterRules = field(default_factory=FilterRules)
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)

    def __post_init__(self) -> None:
        if self.fetch_source is not None and (self.fetch_source == "warc") != bool(self.warc):
            raise ValueError(
                "--fetch warc needs --warc files; --fetch live can't be combined with --warc "
                "(fetch_source and warc in a config file)"
            )
        if self.fetch.save_warc and self.warc:
            raise ValueError(
                "--save-warc saves a live crawl; with --warc the pages are in WARC files already "
                "([fetch] save_warc and warc in a config file)"
            )

    @property
    def source(self) -> str:
        """Where pages come from: "warc" (replayed) or "live" (fetched)."""
        return "warc" if self.warc else "live"
