"""The corpus's unit, `Document`, and the Parquet shards that hold it.

One row per document. The schema is fixed here and documented in the README; shards are written
whole to a temporary name and renamed, so a reader never sees a partial shard under a final name.
Rows are sorted by id inside a shard and documents are assigned to shards by a hash of their id, so
the same input gives the same shards on any runner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.links import Provenance, url_host
from webtext.page import Page


@dataclass(frozen=True)
class ShardConfig:
    """How the kept documents are written."""

    num_shards: int = 0
    """Output shards; 0: as many as keep each near shard_size_mb of text."""
    shard_size_mb: int = 256
    """Target text size of a shard, in MiB (when num_shards is 0)."""
    write_dropped: bool = False
    """Also write every dropped document with its stage and reason to OUT/dropped/*.jsonl.gz."""


SHARD_PREFIX = "documents"
SHARD_SUFFIX = ".parquet"
SHARD_GLOB = f"{SHARD_PREFIX}-*-of-*{SHARD_SUFFIX}"

# Whole seconds, typed in milliseconds: Parquet has no seconds unit, so a file read back says ms anyway.
_UTC_SECONDS = pa.timestamp("ms", tz="UTC")

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("canonical_url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("language_score", pa.float32()),
        pa.field("score", pa.int64(), nullable=False),
        pa.field("score_sum", pa.int64(), nullable=False),
        pa.field("text_chars", pa.int64(), nullable=False),
        pa.field("text_bytes", pa.int64(), nullable=False),
        pa.field("words", pa.int64(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),
        pa.field("exact_duplicates", pa.int64(), nullable=False),
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("cluster_size", pa.int64(), nullable=False),
        pa.field("fetched_at", _UTC_SECONDS, nullable=False),
        pa.field("fetch_source", pa.string(), nullable=False),
        pa.field("http_status", pa.int32(), nullable=False),
        pa.field("content_type", pa.string()),
        pa.field("charset", pa.string()),
        pa.field("submission_ids", pa.list_(pa.string()), nullable=False),
        pa.field("subreddits", pa.list_(pa.string()), nullable=False),
        pa.field("first_submission_id", pa.string(), nullable=False),
        pa.field("first_created_utc", _UTC_SECONDS, nullable=False),
        pa.field("published", pa.string()),
        pa.field("author", pa.string()),
        pa.field("sitename", pa.string()),
        pa.field("description", pa.string()),
        pa.field("extractor", pa.string(), nullable=False),
    ]
)
"""Column meanings are in the README ("Shard schema")."""


def document_id(canonical_url: str) -> str:
    """Stable across runs and runners: URLs are unique after DedupURLs, so their hash is an id."""
    return hashlib.blake2b(canonical_url.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Document:
    """One extracted page with everything the shards record about it."""

    canonical_url: str
    url: str
    """Where the text came from (after redirects)."""
    provenance: Provenance
    text: str
    title: str | None
    fetched_at: float
    fetch_source: str
    """"live" or "warc"."""
    http_status: int
    content_type: str | None
    charset: str | None
    published: str | None = None
    author: str | None = None
    sitename: str | None = None
    description: str | None = None
    extractor: str = ""
    language: str | None = None
    language_score: float | None = None
    text_hash: str = ""
    exact_duplicates: int = 0
    cluster_id: str = ""
    """The id of the document that represents this one's near-duplicate cluster (its own id if it is it)."""
    cluster_size: int = 1
    words: int = 0

    @property
    def id(self) -> str:
        return document_id(self.canonical_url)

    @classmethod
    def from_page(cls, canonical_url: str, provenance: Provenance, page: Page, source: str, **extracted):
        return cls(
            canonical_url=canonical_url,
            url=page.final_url,
            provenance=provenance,
            fetched_at=page.fetched_at,
            fetch_source=source,
            http_status=page.status,
            content_type=page.content_type or None,
            **extracted,
        )

    def rank(self) -> tuple:
        """Sorts the copy a deduplication keeps first: highest score, then the earliest submission."""
        return (
            -self.provenance.score_max,
            self.provenance.first_created_utc,
            self.provenance.first_submission_id,
            self.canonical_url,
        )

    def row(self) -> dict:
        """This document as a row of SCHEMA."""
        provenance = self.provenance
        row = {key: value for key, value in asdict(self).items() if key in SCHEMA.names}
        row.update(
            id=self.id,
            domain=url_host(self.url),
            score=provenance.score_max,
            score_sum=provenance.score_sum,
            text_chars=len(self.text),
            text_bytes=len(self.text.encode("utf-8", "surrogatepass")),
            fetched_at=_utc(self.fetched_at),
            submission_ids=list(provenance.submission_ids),
            subreddits=list(provenance.subreddits),
            first_submission_id=provenance.first_submission_id,
            first_created_utc=_utc(provenance.first_created_utc),
        )
        return row


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)


def shard_name(index: int, count: int) -> str:
    return f"{SHARD_PREFIX}-{index:05d}-of-{count:05d}{SHARD_SUFFIX}"


def shard_of(document_id: str, count: int) -> int:
    return int(document_id, 16) % count


ROW_GROUP_BYTES = 8 << 20
"""Text per Parquet row group: the writer holds a row group's table and its encoded pages in memory."""


def write_documents(documents: Iterable[Document], stream) -> int:
    """Writes one shard's documents sorted by id as Parquet (zstd) and returns how many.

    A row group of about ROW_GROUP_BYTES of text at a time: besides the documents themselves only one row
    group's rows, table and encoded pages are in memory, not the whole shard three times over."""
    ordered = sorted(documents, key=lambda document: document.id)
    with pq.ParquetWriter(stream, SCHEMA, compression="zstd") as writer:
        group: list[dict] = []
        size = 0
        for document in ordered:
            group.append(document.row())
            size += group[-1]["text_bytes"]
            if size >= ROW_GROUP_BYTES:
                writer.write_table(pa.Table.from_pylist(group, schema=SCHEMA))
                group, size = [], 0
        if group:  # (no documents at all still make a valid, empty shard)
            writer.write_table(pa.Table.from_pylist(group, schema=SCHEMA))
    return len(ordered)
