"""Reading documents from text, JSONL (plain and compressed) and Parquet files."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from manifests import write_manifest

from bpe.corpus import BUILD_SHARDS, BUILD_SUMMARY, CorpusError, CorpusStats, iter_documents
from webtext.shards import SHARD_GLOB, STATS_FILE

COMPRESSORS = {
    "": lambda data: data,
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_jsonl_in_every_compression(tmp_path, suffix):
    records = [{"text": "one\nline two"}, {"text": "二", "url": "x"}]
    data = "".join(json.dumps(r) + "\n" for r in records).encode() + b"\n"
    path = tmp_path / f"docs.jsonl{suffix}"
    path.write_bytes(COMPRESSORS[suffix](data))
    stats = CorpusStats()
    assert list(iter_documents([path], stats=stats)) == ["one\nline two", "二"]
    assert (stats.files, stats.documents, stats.bytes) == (1, 2, len(b"one\nline two") + len("二".encode()))


def test_text_parquet_directories_and_globs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("whole file\n\nis one document")
    (tmp_path / "sub" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "sub" / ".ipynb_checkpoints" / "a.txt").write_text("a hidden copy")
    pq.write_table(
        pa.table({"text": ["row 1", None, "row 2"], "id": [1, 2, 3]}), tmp_path / "sub" / "b.parquet"
    )
    assert list(iter_documents([tmp_path])) == ["whole file\n\nis one document", "row 1", "row 2"]
    assert list(iter_documents([str(tmp_path / "**" / "*.parquet")])) == ["row 1", "row 2"]
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "c.parquet")
    with pytest.raises(CorpusError, match="c.parquet: no column 'text'"):
        list(iter_documents([tmp_path / "c.parquet"]))
    assert list(iter_documents([tmp_path / "c.parquet"], text_field="body")) == ["x"]


def test_a_build_directory_stands_for_its_document_shards(tmp_path):
    for index, text in enumerate(["first shard", "second shard"]):
        pq.write_table(pa.table({"text": [text]}), tmp_path / f"documents-0000{index}-of-00002.parquet")
    write_manifest(tmp_path, "stats.json", "documents-*-of-*.parquet", funnel={})
    (tmp_path / "dropped").mkdir()
    (tmp_path / "dropped" / "dropped-00000.jsonl").write_text('{"url": "https://a.example", "reason": "x"}\n')
    stats = CorpusStats()
    assert list(iter_documents([tmp_path], stats=stats)) == ["first shard", "second shard"]
    assert stats.files == 2


def test_a_build_directory_its_manifest_does_not_vouch_for_is_refused(tmp_path):
    """A killed build: shards under their final names, no stats.json. Read as a plain directory, it gave
    part of a corpus (and its dropped/ records) without a word."""
    pq.write_table(pa.table({"text": ["first shard"]}), tmp_path / "documents-00000-of-00002.parquet")
    (tmp_path / "dropped").mkdir()
    (tmp_path / "dropped" / "dropped-00000.jsonl").write_text('{"text": "a dropped record"}\n')
    with pytest.raises(CorpusError, match="not a complete set of a build's shards: 1 shard"):
        list(iter_documents([tmp_path]))
    write_manifest(tmp_path, "stats.json", "documents-*-of-*.parquet")
    pq.write_table(pa.table({"text": ["a second run's"]}), tmp_path / "documents-00001-of-00003.parquet")
    with pytest.raises(CorpusError, match="1 shard.s. it does not list"):
        list(iter_documents([tmp_path]))
    # A glob names the files: read as they are.
    assert len(list(iter_documents([str(tmp_path / "documents-*.parquet")]))) == 2


def test_the_build_names_bpe_knows_are_the_builds():
    assert (BUILD_SUMMARY, BUILD_SHARDS) == (STATS_FILE, SHARD_GLOB)


def test_undecodable_bytes_are_replaced_and_counted(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait")
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    stats = CorpusStats()
    found = list(iter_documents([tmp_path / "bad.txt", tmp_path / "bad.jsonl"], stats=stats))
    assert found == ["caf\ufffd au lait", "ok", "caf\ufffd"]
    assert stats.documents_with_replaced_bytes == 2


def test_errors_name_path_and_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(CorpusError, match=r"broken.jsonl:2: invalid JSON"):
        list(iter_documents([path]))
    path.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(CorpusError, match=r"broken.jsonl:2: no string field 'text'"):
        list(iter_documents([path]))
    with pytest.raises(CorpusError, match="nothing-here: no such file or directory"):
        list(iter_documents([tmp_path / "nothing-here"]))
    with pytest.raises(CorpusError, match=r"\*.nope: no files match"):
        list(iter_documents([str(tmp_path / "*.nope")]))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(b'{"text": "a"}\n' * 100)[:-20])
    with pytest.raises(CorpusError, match="cut.jsonl.gz: cannot read"):
        list(iter_documents([tmp_path / "cut.jsonl.gz"]))
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(CorpusError, match="x.parquet: not a readable Parquet file"):
        list(iter_documents([tmp_path / "x.parquet"]))
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "numbers.parquet")
    with pytest.raises(CorpusError, match="numbers.parquet: column 'text' holds int64, not text"):
        list(iter_documents([tmp_path / "numbers.parquet"]))
    (tmp_path / "y.parquet.gz").write_bytes(b"x")
    with pytest.raises(CorpusError, match="y.parquet.gz: Parquet compresses its own pages"):
        list(iter_documents([tmp_path / "y.parquet.gz"]))
    (tmp_path / "x.zst").write_bytes(b"garbage")
    with pytest.raises(CorpusError, match="x.zst: unknown format"):
        list(iter_documents([tmp_path / "x.zst"]))
    assert list(iter_documents([tmp_path / "x.parquet"], fmt="text")) == ["not parquet"]


def _frames(*parts: bytes) -> bytes:
    """A .zst of one frame per part (as concatenated files are), with checksums as the zstd CLI writes."""
    return b"".join(zstandard.ZstdCompressor(write_checksum=True).compress(part) for part in parts)


def _jsonl(texts) -> bytes:
    return "".join(json.dumps({"text": text}) + "\n" for text in texts).encode()


def test_a_zst_cut_inside_a_frame_is_an_error_like_a_cut_gz(tmp_path):
    texts = [f"document {i} " * 8 for i in range(3000)]
    data = _frames(_jsonl(texts[:1000]), _jsonl(texts[1000:]))
    (tmp_path / "whole.jsonl.zst").write_bytes(data)
    assert list(iter_documents([tmp_path / "whole.jsonl.zst"])) == texts  # every frame is read
    for cut in (len(data) // 2, len(data) - 3):  # inside the second frame; inside its checksum
        (tmp_path / "cut.jsonl.zst").write_bytes(data[:cut])
        with pytest.raises(CorpusError, match=r"cut.jsonl.zst: cannot read \(EOFError: .*truncated"):
            list(iter_documents([tmp_path / "cut.jsonl.zst"]))
    # A text file is one document: a cut one must not pass for a shorter document.
    (tmp_path / "cut.txt.zst").write_bytes(_frames(" ".join(texts).encode())[:-40])
    with pytest.raises(CorpusError, match="cut.txt.zst: cannot read"):
        list(iter_documents([tmp_path / "cut.txt.zst"]))
    (tmp_path / "junk.jsonl.zst").write_bytes(data + b"not a frame")
    with pytest.raises(CorpusError, match="junk.jsonl.zst: cannot read"):
        list(iter_documents([tmp_path / "junk.jsonl.zst"]))


def test_a_zst_cut_at_a_frame_boundary_reads_the_whole_frames(tmp_path):
    """zstd has no end-of-stream marker after the last frame, so a multi-frame file cut exactly between two
    frames looks complete: its whole frames are read, with no partial document. (Pushshift's dumps are
    single frames, where every cut is inside the frame and detected.)"""
    texts = [f"document {i}" for i in range(200)]
    first = _frames(_jsonl(texts[:120]))
    data = first + _frames(_jsonl(texts[120:]))
    (tmp_path / "cut.jsonl.zst").write_bytes(data[: len(first)])
    assert list(iter_documents([tmp_path / "cut.jsonl.zst"])) == texts[:120]


def test_null_texts_are_skipped_and_counted(tmp_path):
    pq.write_table(pa.table({"text": ["a", None, "b"]}), tmp_path / "rows.parquet")
    (tmp_path / "lines.jsonl").write_text('{"text": "c"}\n{"text": null}\n')
    stats = CorpusStats()
    assert list(iter_documents([tmp_path], stats=stats)) == ["c", "a", "b"]
    assert (stats.documents, stats.null_texts_skipped) == (3, 2)


def test_json_nested_too_deeply_is_invalid_json_not_a_crash(tmp_path):
    (tmp_path / "deep.jsonl").write_text('{"text": "ok"}\n' + "[" * 100_000 + "\n")
    with pytest.raises(CorpusError, match=r"deep.jsonl:2: invalid JSON \(nested too deeply"):
        list(iter_documents([tmp_path / "deep.jsonl"]))


def test_a_zst_with_pushshifts_2_gib_window_is_read(tmp_path):
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    path = tmp_path / "long.jsonl.zst"
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(path.open("wb")) as stream:
        stream.write(_jsonl(["a", "b"]))  # streamed, of no known size: the header keeps the 2 GiB window
    assert zstandard.get_frame_parameters(path.read_bytes()).window_size == 1 << 31
    assert list(iter_documents([path])) == ["a", "b"]
