"""Token shards: llm.c's exact layout, loud failures on bad files, and the Beam job that writes them from a
build's Parquet shards, run for real (in process, and with two worker processes through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from manifests import write_manifest

from model.tokens import TokenShardError, load_shard, read_header, write_shard
from pipelines.tokenize import output_name, plan_offsets, run, split_hash
from webtext.cli import main
from webtext.shards import SCHEMA, SHARD_GLOB, STATS_FILE, document_id, shard_name

SHARD_TOKENS = 37
VAL_FRACTION = 0.3
TEXTS = [
    "",
    "Hello world",
    "A document that spells <|endoftext|> in its text stays one document.",
    "naïve café Ünïcödé привет мир 中文文本 مرحبا 🙂\n\n  trailing spaces   ",
    " ".join(f"word{i}" for i in range(120)),  # spans several shards
    *(f"Document number {i}: the quick brown fox jumps over the lazy dog {i * 7}." for i in range(20)),
]


def llmc_write_datafile(filename: Path, toks: list[int]) -> None:
    """llm.c's dev/data/data_common.py write_datafile for "gpt-2", as it is there."""
    header = np.zeros(256, dtype=np.int32)
    header[0] = 20240520
    header[1] = 1
    header[2] = len(toks)
    with open(filename, "wb") as f:
        f.write(header.tobytes())
        f.write(np.array(toks, dtype=np.uint16).tobytes())


# ---------------------------------------------------------------------- the format


def test_shard_round_trip_matches_llmc_bytes(tmp_path):
    tokens = np.array([50256, 0, 1, 65535, 15496, 995, 50256], dtype=np.int64)
    write_shard(tmp_path / "ours.bin", tokens)
    llmc_write_datafile(tmp_path / "llmc.bin", tokens.tolist())
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "llmc.bin").read_bytes()
    assert read_header(tmp_path / "ours.bin") == len(tokens)
    loaded = load_shard(tmp_path / "ours.bin")
    assert loaded.dtype == np.uint16
    assert loaded.tolist() == tokens.tolist()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["llmc.bin", "ours.bin"]  # no temp files left


def test_empty_shard_round_trips(tmp_path):
    write_shard(tmp_path / "empty.bin", np.array([], dtype=np.uint16))
    assert read_header(tmp_path / "empty.bin") == 0
    assert load_shard(tmp_path / "empty.bin").tolist() == []


@pytest.mark.parametrize("bad", [[65536], [-1], [1, 70000]])
def test_write_refuses_ids_beyond_uint16(tmp_path, bad):
    with pytest.raises(TokenShardError, match="0..65535"):
        write_shard(tmp_path / "bad.bin", np.array(bad))
    assert list(tmp_path.iterdir()) == []


def _header(magic=20240520, version=1, count=4) -> bytes:
    header = np.zeros(256, dtype="<i4")
    header[:3] = magic, version, count
    return header.tobytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "0 bytes, too small for the 1024-byte header"),
        (_header()[:100], "100 bytes, too small"),
        (_header(magic=1234) + bytes(8), "bad magic number 1234 .expected 20240520."),
        (_header(magic=20240801) + bytes(8), "Llama 3"),
        (_header(version=2) + bytes(8), "unsupported version 2"),
        (
            _header() + bytes(7),
            "truncated: the header announces 4 tokens .1,032 bytes with the header. but the file",
        ),
        (_header() + bytes(6), "truncated"),
        (_header() + bytes(11), "3 trailing bytes after the 4 tokens"),
        (_header(count=-5), "negative"),
    ],
)
def test_bad_files_fail_clearly(tmp_path, data, message):
    path = tmp_path / "shard.bin"
    path.write_bytes(data)
    for read in (read_header, load_shard):
        with pytest.raises(TokenShardError, match=message) as error:
            read(path)
        assert str(error.value).startswith(str(path))


# ---------------------------------------------------------------------- the split rule


def test_plan_orders_by_id_and_offsets_each_split():
    counts = [(("b", "x"), 5), (("a", "x"), 3), (("a", "w"), 2), (("c", "x"), 4)]
    assert list(plan_offsets(counts, 0.0)) == [
        (("a", "w"), ("train", 0)),
        (("a", "x"), ("train", 2)),
        (("b", "x"), ("train", 5)),
        (("c", "x"), ("train", 10)),
    ]
    # No id hashes below 1e-12 of 2**64, so the lowest hash becomes val: a tiny corpus still has one.
    lowest = min("abc", key=split_hash)
    plan = dict(plan_offsets(counts, 1e-12))
    assert [key for key, (split, _) in plan.items() if split == "val"] == [(lowest, "x")]


# ---------------------------------------------------------------------- the pipeline


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Two Parquet shards as `webtext build` names them, with the schema's id and text columns."""
    directory = tmp_path_factory.mktemp("build")
    docs = {document_id(f"https://example.com/{i}"): text for i, text in enumerate(TEXTS)}
    schema = pa.schema([SCHEMA.field("id"), SCHEMA.field("text")])
    items = sorted(docs.items())
    for index in range(2):
        rows = [{"id": key, "text": text} for key, text in items[index::2]]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), directory / shard_name(index, 2))
    write_manifest(directory, STATS_FILE, SHARD_GLOB)
    return directory, docs


@pytest.fixture(scope="module")
def tokenized(documents, gpt2_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tokens")
    summary = run(
        str(documents[0]),
        str(gpt2_dir),
        str(out),
        shard_tokens=SHARD_TOKENS,
        val_fraction=VAL_FRACTION,
        pipeline_args=["--runner=FnApiRunner"],
    )
    return out, summary


def _split_tokens(out: Path, split: str) -> list[np.ndarray]:
    return [
        load_shard(out / output_name(split, index)) for index in range(len(list(out.glob(f"*_{split}_*"))))
    ]


def test_shards_decode_to_the_documents_in_id_order(tokenized, documents, gpt2):
    out, summary = tokenized
    _, docs = documents
    is_val = {key: split_hash(key) < VAL_FRACTION * 2**64 for key in docs}
    assert 0 < sum(is_val.values()) < len(docs)
    for split in ("train", "val"):
        shards = _split_tokens(out, split)
        assert [len(shard) for shard in shards[:-1]] == [SHARD_TOKENS] * (len(shards) - 1)
        assert 0 < len(shards[-1]) <= SHARD_TOKENS
        tokens = np.concatenate(shards).tolist()
        starts = [i for i, token in enumerate(tokens) if token == gpt2.eot_token]
        assert starts[0] == 0
        texts = [gpt2.decode_bytes(tokens[a + 1 : b]).decode() for a, b in zip(starts, starts[1:] + [None])]
        expected = [text for key, text in sorted(docs.items()) if is_val[key] == (split == "val")]
        assert texts == expected
        assert summary["documents"][split] == len(expected)
        assert summary["tokens"][split] == len(tokens)
        assert summary["shards"][split] == [output_name(split, i) for i in range(len(shards))]
    assert json.loads((out / "tokenize.json").read_text()) == summary
    assert {path.name for path in out.iterdir()} == {"tokenize.json", *sum(summary["shards"].values(), [])}


def test_cli_with_two_worker_processes_writes_the_same_bytes(tokenized, documents, gpt2_dir, tmp_path):
    out, summary = tokenized
    arguments = ["tokenize", "--shards", str(documents[0]), "--vocab", str(gpt2_dir), "--out", str(tmp_path)]
    arguments += ["--shard-tokens", str(SHARD_TOKENS), "--val-fraction", str(VAL_FRACTION)]
    result = CliRunner().invoke(
        main, [*arguments, "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    )
    assert result.exit_code == 0, result.output
    assert (
        f"train: {summary['documents']['train']} document(s), {summary['tokens']['train']} tokens"
        in result.output
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(path.name for path in out.iterdir())
    for path in out.glob("*.bin"):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    again = CliRunner().invoke(main, arguments)
    assert again.exit_code != 0
    assert "already holds token shards" in again.output


def test_missing_input_fails_before_running(gpt2_dir, tmp_path):
    result = CliRunner().invoke(
        main, ["tokenize", "--shards", str(tmp_path), "--vocab", str(gpt2_dir), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0
    assert "no files match" in result.output
