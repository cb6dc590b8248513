"""Shard files: documents sorted by id, a row group per few MB of text, any count of documents; the schema
is Document's fields, and the README's table says the same."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import webtext.shards
from webtext.links import Provenance
from webtext.page import Page
from webtext.shards import SCHEMA, Document, document_id, write_documents

README = Path(__file__).resolve().parents[1] / "README.md"


def document(n: int, words: int) -> Document:
    return Document(
        canonical_url=f"http://site{n}.example/",
        url=f"http://site{n}.example/",
        score=3,
        score_sum=3,
        submission_ids=(f"s{n}",),
        subreddits=("books",),
        first_submission_id=f"s{n}",
        first_created_utc=1_500_000_000,
        text=" ".join([f"word{n}"] * words),
        title=f"Page {n}",
        fetched_at=1_600_000_000.0,
        fetch_source="warc",
        http_status=200,
        content_type="text/html",
        charset="utf-8",
    )


def test_a_shard_is_written_sorted_by_id_a_row_group_at_a_time(monkeypatch):
    monkeypatch.setattr(webtext.shards, "ROW_GROUP_BYTES", 20_000)
    documents = [document(n, words=500 + 100 * n) for n in range(12)]  # 4-11 KB of text each
    stream = io.BytesIO()
    assert write_documents(reversed(documents), stream) == 12
    shard = pq.ParquetFile(io.BytesIO(stream.getvalue()))
    assert shard.schema_arrow.remove_metadata() == SCHEMA  # what readers get is what we declare
    assert shard.metadata.num_row_groups > 3  # bounded by text bytes, not one group for the shard
    table = shard.read()
    assert table.column("id").to_pylist() == sorted(d.id for d in documents)
    by_id = {d.id: d for d in documents}
    assert [by_id[row["id"]].row() for row in table.to_pylist()] == table.to_pylist()


def test_an_empty_shard_is_a_valid_file():
    stream = io.BytesIO()
    assert write_documents([], stream) == 0
    assert pq.read_table(io.BytesIO(stream.getvalue())).num_rows == 0


def test_the_schema_is_the_documents_fields_in_order():
    assert SCHEMA.names == [name for name in Document.__dataclass_fields__]
    nullable = {column.name for column in SCHEMA if column.nullable}
    assert nullable == {
        "title", "language", "language_score", "content_type", "charset", "published", "author", "sitename",
        "description",
    }  # fmt: skip
    assert SCHEMA.field("language_score").type == pa.float32()
    assert SCHEMA.field("http_status").type == pa.int32()
    assert SCHEMA.field("fetched_at").type == pa.timestamp("ms", tz="UTC")
    assert SCHEMA.field("subreddits").type == pa.list_(pa.string())


def test_a_page_becomes_a_document_with_its_provenance_and_computed_columns():
    provenance = Provenance(("b2", "a1"), ("news",), 12, 9, 1_500_000_000, "a1")
    page = Page("http://x.example/a", "http://X.example/b", 200, (("Content-Type", "text/html"),), b"", 1.6e9)
    made = Document.from_page(
        "http://x.example/a", provenance, page, "live", text="héllo", title=None, charset=None
    )
    computed = made.id, made.domain, made.text_chars, made.text_bytes
    assert computed == (document_id("http://x.example/a"), "x.example", 5, 6)
    assert (made.score, made.score_sum, made.submission_ids) == (9, 12, ("b2", "a1"))
    assert made.rank() == (-9, 1_500_000_000, "a1", "http://x.example/a") and made.content_type == "text/html"
    assert replace(made, text="hi").text_bytes == 2  # computed again from the new text


def _spelled(arrow_type: pa.DataType) -> str:
    """An Arrow type as the README spells it."""
    if pa.types.is_timestamp(arrow_type):
        return f"timestamp[{arrow_type.unit}, {arrow_type.tz}]"
    if pa.types.is_list(arrow_type):
        return f"list<{_spelled(arrow_type.value_type)}>"
    if pa.types.is_floating(arrow_type):
        return f"float{arrow_type.bit_width}"
    return str(arrow_type)


def _readme_columns() -> list[tuple[str, str]]:
    """(column, type) of each column of the README's shard table: a row's columns share its one type or
    list one each."""
    section = README.read_text().split("### Shard schema\n\n", 1)[1]
    rows = section.split("\n\n", 1)[0].splitlines()[2:]  # the table, below its header and rule
    columns = []
    for row in rows:
        names, types, _ = (cell.strip() for cell in row.strip("|").split("|", 2))
        names = re.findall(r"`([^`]+)`", names)
        types = types.replace("\\<", "<").replace("\\>", ">")
        types = re.split(r",\s*(?![^\[]*\])", types)  # (not the comma inside timestamp[ms, UTC])
        assert len(types) in (1, len(names)), row
        columns += zip(names, types * len(names) if len(types) == 1 else types, strict=True)
    return columns


def test_the_readme_table_lists_the_schema():
    assert _readme_columns() == [(column.name, _spelled(column.type)) for column in SCHEMA]
