"""The Beam pre-token counting pipeline, run for real on the local FnApiRunner: it must count exactly what
the single-machine trainer counts, and its output must train the same merges."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from click.testing import CliRunner

import bpe
from bpe.corpus import CorpusError
from bpe.counts import counts_schema, read_counts
from bpe.pretokenize import GPT2_PATTERN, Pretokenizer
from bpe.trainer import TrainStats, count_pieces, count_pretokens, train_from_counts
from pipelines.bpe_counts import CountPiecesFn, run
from webtext.cli import main

FN_API = ["--runner=FnApiRunner"]
WORDS = [
    "the",
    "language",
    "model",
    "is",
    "trained",
    "on",
    "text",
    "from",
    "the",
    "web",
    "and",
    "it's",
    "good",
    "at",
    "they're",
    "we'll",
    "2019",
    "1.5",
    "e-mail",
    "...",
    "!!",
    "naïve",
    "café",
    "Ünïcödé",
    "привет",
    "мир",
    "данные",
    "中文",
    "文本",
    "数据",
    "مرحبا",
    "بالعالم",
    "γλώσσα",
    "κόσμος",
    "🙂",
    "🚀",
] + ["\n\n", "  ", "\t"]


def documents(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80))) for _ in range(count)]


@pytest.fixture
def corpus(tmp_path: Path) -> list[str]:
    """Parquet shards, JSONL plain and gzipped, a Markdown file; patterns overlap on purpose."""
    data = tmp_path / "data"
    data.mkdir()
    texts = documents(40, seed=0)
    pq.write_table(pa.table({"text": texts[:12] + [None], "id": list(range(13))}), data / "part-0.parquet")
    pq.write_table(pa.table({"text": texts[12:24]}), data / "part-1.parquet")
    (data / "docs.jsonl").write_text(
        "".join(json.dumps({"url": "u", "text": text}) + "\n\n" for text in texts[24:32]), encoding="utf-8"
    )
    with gzip.open(data / "more.jsonl.gz", "wt", encoding="utf-8") as stream:
        stream.writelines(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts[32:38])
    (data / "notes.md").write_text("\n".join(texts[38:]), encoding="utf-8")
    return [str(data / "*.parquet"), str(data / "docs.jsonl"), str(data / "*.jsonl*"), str(data / "notes.md")]


def test_pipeline_counts_what_the_local_trainer_counts_and_trains_the_same_merges(corpus, tmp_path):
    out = tmp_path / "counts"
    summary = run(corpus, str(out), num_shards=3, pipeline_args=FN_API)

    stats = TrainStats()
    expected = count_pretokens(corpus, num_workers=1, stats=stats)
    counts = read_counts([out])
    assert counts == dict(expected)
    assert [Path(path).name for path in summary["outputs"]] == [
        f"counts-0000{i}-of-00003.parquet" for i in range(3)
    ]
    assert all(pq.read_schema(path).equals(counts_schema()) for path in summary["outputs"])
    assert (summary["files"], summary["documents"], summary["bytes"]) == (5, 39, stats.bytes_read)
    assert summary["unique_pretokens"] == len(expected) and summary["documents_with_replaced_bytes"] == 0

    ours, theirs = train_from_counts(counts, 400), train_from_counts(expected, 400)
    assert ours.merges == theirs.merges and len(ours.merges) == 400 - 257

    with pytest.raises(CorpusError, match="already holds counts"):
        run(corpus, str(out), pipeline_args=FN_API)


def test_bundle_table_flushes_early_without_changing_the_sums():
    texts = documents(30, seed=1)
    expected = count_pieces(texts, Pretokenizer(GPT2_PATTERN))
    with beam.Pipeline(options=PipelineOptions(FN_API)) as pipeline:
        counts = (
            pipeline
            | beam.Create(texts)
            | beam.ParDo(CountPiecesFn(GPT2_PATTERN, max_pieces=5))
            | beam.CombinePerKey(sum)
        )
        assert_that(counts, equal_to(list(expected.items())))


def test_cli_counts_with_beam_options_then_trains_from_the_shards(corpus, tmp_path):
    data = tmp_path / "data"
    (data / "latin1.txt").write_bytes("café crème brûlée".encode("latin-1"))
    (data / "escapes.jsonl").write_text('{"text": "lone \\ud800 surrogate"}\n', encoding="utf-8")
    out, vocab = tmp_path / "counts", tmp_path / "vocab"
    inputs = [*corpus, str(data / "latin1.txt"), str(data / "escapes.jsonl")]
    runner = CliRunner()

    result = runner.invoke(
        main,
        [
            "bpe",
            "count-pretokens",
            *inputs,
            "--out",
            str(out),
            "--shards",
            "2",
            "--direct_running_mode=in_memory",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "41 documents (7 files, 1 with invalid UTF-8 replaced, 1 null texts skipped)" in result.output
    assert sorted(path.name for path in out.iterdir()) == [
        "counts-00000-of-00002.parquet",
        "counts-00001-of-00002.parquet",
    ]
    counts = read_counts([out])
    assert counts[" \ufffd"] == 1  # the lone surrogate, as the encoder sees it
    assert counts["\ufffd"] == 4 and counts["caf"] == 1  # é, è, û, é in Latin-1

    result = runner.invoke(
        main,
        [
            "bpe",
            "train",
            "--counts",
            str(out / "counts-*.parquet"),
            "--out",
            str(vocab),
            "--vocab-size",
            "300",
        ],
    )
    assert result.exit_code == 0, result.output
    encoding = bpe.load(vocab)
    assert (
        encoding.n_vocab == 300 and encoding.decode(encoding.encode("привет мир 中文")) == "привет мир 中文"
    )


def test_unknown_format_fails_before_running_naming_the_path(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"\x00\x01")
    out = tmp_path / "counts"
    result = CliRunner().invoke(main, ["bpe", "count-pretokens", str(tmp_path / "*.bin"), "--out", str(out)])
    assert result.exit_code != 0 and f"{tmp_path / 'data.bin'}: unknown format" in result.output
    assert not out.exists()


def test_bad_record_fails_the_pipeline_naming_file_and_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"body": "no text field"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2: no string field 'text'"):
        run([str(tmp_path / "bad.jsonl")], str(tmp_path / "counts"), pipeline_args=FN_API)


def test_beam_options_take_their_values_and_typos_are_refused(tmp_path):
    (tmp_path / "docs.jsonl").write_text('{"text": "one two three"}\n', encoding="utf-8")
    docs, runner = str(tmp_path / "docs.jsonl"), CliRunner()
    for typo in (["--shardz", "3"], ["--shardz=3"]):  # `3` is the typo's value, not an input
        result = runner.invoke(main, ["bpe", "count-pretokens", docs, *typo, "--out", str(tmp_path / "c")])
        assert result.exit_code == 2, result.output
        assert f"no such option: {typo[0]} (not a count-pretokens option" in result.output
        assert "3: no files match" not in result.output and not (tmp_path / "c").exists()
    spaced = ["--direct_num_workers", "1", "--save_main_session", docs, "--direct_running_mode", "in_memory"]
    result = runner.invoke(main, ["bpe", "count-pretokens", *spaced, "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "in 1 documents (1 files" in result.output
