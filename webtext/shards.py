"""The corpus's unit, `Document`, and the Parquet shards that hold it.

One row per document, its columns the fields of `Document` (SCHEMA is derived from them, the README
documents them). Shards are written whole to a temporary name and renamed, so a reader never sees a
partial shard under a final name. Rows are sorted by id inside a shard and documents are assigned to
shards by a hash of their id, so the same input gives the same shards on any runner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import Field, asdict, dataclass, field, fields
from datetime import datetime, timezone
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

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
STATS_FILE = "stats.json"
"""A build's summary, written last: its manifest makes the shards beside it a complete set (`bpe.manifest`)."""

# Whole seconds, typed in milliseconds: Parquet has no seconds unit, so a file read back says ms anyway.
_UTC_SECONDS = pa.timestamp("ms", tz="UTC")

ARROW_TYPE = "arrow_type"
"""The key of a Document field's metadata that gives its column's Arrow type (see `column`)."""


def column(arrow_type: pa.DataType, **options) -> Any:
    """A Document field whose column is not its Python type's default Arrow type (int64, float64, string,
    list of those): float32, int32, a timestamp of the seconds the field holds."""
    return field(metadata={ARROW_TYPE: arrow_type}, **options)


def computed() -> Any:
    """A Document field (a column) that `Document.__post_init__` computes from the others."""
    return field(init=False)


def document_id(canonical_url: str) -> str:
    """Stable across runs and runners: URLs are unique after DedupURLs, so their hash is an id."""
    return hashlib.blake2b(canonical_url.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Document:
    """One extracted page with everything the shards record about it: its fields, in this order, are the
    shards' columns. SCHEMA is derived from them (`X | None`: nullable; `column(...)`: an Arrow type other
    than the Python type's; `computed()`: set from the other fields), the README's "Shard schema" documents
    them."""

    id: str = computed()
    """16 hex digits of BLAKE2b of `canonical_url`."""
    url: str
    """Where the text came from (after redirects)."""
    canonical_url: str
    """The deduplicated link Reddit users submitted."""
    domain: str = computed()
    title: str | None
    text: str
    language: str | None = None
    language_score: float | None = column(pa.float32(), default=None)
    score: int
    """The highest karma of the submissions that linked it."""
    score_sum: int
    text_chars: int = computed()
    text_bytes: int = computed()
    words: int = 0
    text_hash: str = ""
    """The hash of the normalized text: the exact-dedup key."""
    exact_duplicates: int = 0
    cluster_id: str = ""
    """The id of the document that represents this one's near-duplicate cluster (its own id if it is it)."""
    cluster_size: int = 1
    fetched_at: float = column(_UTC_SECONDS)
    """Unix time the response arrived."""
    fetch_source: str
    """"live" or "warc"."""
    http_status: int = column(pa.int32())
    content_type: str | None
    charset: str | None
    """The charset the text was decoded with."""
    submission_ids: tuple[str, ...]
    subreddits: tuple[str, ...]
    first_submission_id: str
    """The earliest submission that linked it (ties: the smallest id): the representative for dedup."""
    first_created_utc: int = column(_UTC_SECONDS)
    published: str | None = None
    author: str | None = None
    sitename: str | None = None
    description: str | None = None
    extractor: str = ""

    def __post_init__(self) -> None:
        values = {
            "id": document_id(self.canonical_url),
            "domain": url_host(self.url),
            "text_chars": len(self.text),
            "text_bytes": len(self.text.encode("utf-8", "surrogatepass")),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)  # (frozen)

    @classmethod
    def from_page(cls, canonical_url: str, provenance: Provenance, page: Page, source: str, **extracted):
        linked = asdict(provenance)  # columns of the same names, but for score_max: the document's score
        linked["score"] = linked.pop("score_max")
        return cls(
            canonical_url=canonical_url,
            url=page.final_url,
            fetched_at=page.fetched_at,
            fetch_source=source,
            http_status=page.status,
            content_type=page.content_type or None,
            **linked,
            **extracted,
        )

    def rank(self) -> tuple:
        """Sorts the copy a deduplication keeps first: highest score, then the earliest submission."""
        return (-self.score, self.first_created_utc, self.first_submission_id, self.canonical_url)

    def row(self) -> dict:
        """This document as a row of SCHEMA."""
        return {name: to_arrow(getattr(self, name)) for name, to_arrow in _TO_ARROW.items()}


_PYTHON_TO_ARROW = {str: pa.string(), int: pa.int64(), float: pa.float64()}


def _arrow_field(declared: Field, hint: Any) -> pa.Field:
    """A Document field's column: its Arrow type, nullable if the type hint is `X | None`."""
    options = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    (python_type,) = [option for option in options if option is not type(None)]
    arrow_type = declared.metadata.get(ARROW_TYPE) or _arrow_type(python_type)
    return pa.field(declared.name, arrow_type, nullable=len(options) > 1)


def _arrow_type(python_type: Any) -> pa.DataType:
    if get_origin(python_type) is tuple:  # tuple[X, ...]
        return pa.list_(_arrow_type(get_args(python_type)[0]))
    return _PYTHON_TO_ARROW[python_type]


def _to_arrow(arrow_type: pa.DataType) -> Callable[[Any], Any]:
    """How a field's value becomes its column's: seconds to a UTC datetime, a tuple to a list."""
    if pa.types.is_timestamp(arrow_type):
        return _utc
    if pa.types.is_list(arrow_type):
        return list
    return lambda value: value


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)


_HINTS = get_type_hints(Document)
SCHEMA = pa.schema([_arrow_field(declared, _HINTS[declared.name]) for declared in fields(Document)])
"""The shards' columns: Document's fields, in order; their meanings are in the README ("Shard schema")."""
_TO_ARROW = {declared.name: _to_arrow(declared.type) for declared in SCHEMA}


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
