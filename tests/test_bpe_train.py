"""Training byte-level BPE: exact merges against a textbook trainer, formats, determinism, errors."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import regex
import zstandard
from click.testing import CliRunner

import bpe
from bpe.corpus import CorpusError
from bpe.counts import read_counts, write_counts
from bpe.files import GPT2_BYTE_ORDER
from bpe.trainer import TrainStats, count_pretokens, train, train_from_counts
from webtext.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "documents.jsonl"
SAMPLE_TEXTS = [json.loads(line)["text"] for line in SAMPLE.open(encoding="utf-8")]


def _corpus(seed: int = 0, documents: int = 60) -> list[str]:
    """Documents made by shuffling the sample's sentences: real words, many repeats, several scripts."""
    sentences = [s for text in SAMPLE_TEXTS for s in regex.split(r"(?<=[.!?。])\s+", text) if s]
    rng = random.Random(seed)
    return ["\n\n".join(rng.choices(sentences, k=rng.randint(3, 12))) for _ in range(documents)]


def textbook_merges(texts: list[str], merges: int, min_frequency: int) -> list[tuple[bytes, bytes]]:
    """The definition: recount every pair after each merge; highest count wins, ties to smaller ids."""
    byte_id = {b: i for i, b in enumerate(GPT2_BYTE_ORDER)}
    token_bytes = [bytes([b]) for b in GPT2_BYTE_ORDER]
    words = Counter()
    for text in texts:
        for piece in regex.findall(bpe.GPT2_PATTERN, text):
            words[tuple(byte_id[b] for b in piece.encode())] += 1
    learned = []
    while len(learned) < merges:
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        candidates = [
            (count, pair)
            for pair, count in pairs.items()
            if token_bytes[pair[0]] + token_bytes[pair[1]] not in token_bytes
        ]
        if not candidates:
            break
        count, (a, b) = min(candidates, key=lambda item: (-item[0], item[1]))
        if count < min_frequency:
            break
        new = len(token_bytes)
        token_bytes.append(token_bytes[a] + token_bytes[b])
        learned.append((token_bytes[a], token_bytes[b]))
        merged = Counter()
        for word, word_count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == (a, b):
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += word_count
        words = merged
    return learned


def _write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8"
    )
    return path


def test_same_merges_as_the_textbook_trainer(tmp_path):
    texts = _corpus()
    path = _write_jsonl(tmp_path / "docs.jsonl", texts)
    encoding = train([path], vocab_size=256 + 400 + 1, min_frequency=2, num_workers=1)
    assert encoding.merges == textbook_merges(texts, 400, min_frequency=2)


def test_layout_matches_gpt2_and_round_trips(tmp_path):
    code = [f"def f{i}(x):\n    if x > {i}:\n        return x\n    return {i}\n" for i in range(30)]
    path = _write_jsonl(tmp_path / "docs.jsonl", _corpus() + code)
    encoding = train([path], vocab_size=700, special_tokens=("<|endoftext|>", "<|pad|>"))
    assert encoding.n_vocab == 700
    assert [encoding.decode_single_token_bytes(i) for i in range(256)] == [
        bytes([b]) for b in GPT2_BYTE_ORDER
    ]
    assert encoding.special_tokens == {"<|endoftext|>": 698, "<|pad|>": 699}
    assert encoding.eot_token == 698
    for i, (a, b) in enumerate(encoding.merges):  # merge i makes id 256 + i
        assert encoding.decode_single_token_bytes(256 + i) == a + b
    text = SAMPLE_TEXTS[0] + "\n\n" + SAMPLE_TEXTS[6]
    assert encoding.decode(encoding.encode(text)) == text
    # Whole documents are the unit: a newline and the next line's indentation make one token, as in
    # GPT-2 (HF's file trainer splits on lines and never sees a newline).
    assert encoding.decode_single_token_bytes(encoding.encode("\n        return x")[0]) == b"\n       "


def test_deterministic_and_parallel_counting_changes_nothing(tmp_path):
    paths = [_write_jsonl(tmp_path / f"part{i}.jsonl", _corpus(seed=i, documents=40)) for i in range(3)]
    serial = train(paths, vocab_size=900, num_workers=1)
    parallel = train(paths, vocab_size=900, num_workers=2)
    again = train(list(reversed(paths)), vocab_size=900, num_workers=2)
    assert serial.merges == parallel.merges == again.merges


def test_bpe_load_tiktoken_and_hf_give_identical_ids(tmp_path):
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tokenizers import Tokenizer

    path = _write_jsonl(tmp_path / "docs.jsonl", _corpus(documents=120))
    out = tmp_path / "vocab"
    train([path], vocab_size=1200).save(out)
    ours = bpe.load(out)
    ranks = data_gym_to_mergeable_bpe_ranks(str(out / "vocab.bpe"), str(out / "encoder.json"))
    tik = tiktoken.Encoding(
        "trained", pat_str=bpe.GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 1199}
    )
    hf = Tokenizer.from_file(str(out / "tokenizer.json"))
    held_out = SAMPLE_TEXTS + [
        "Unseen words: antidisestablishmentarianism, naïveté, 1,234,567 — and 🙂 emoji."
    ]
    for text in held_out:
        ids = ours.encode(text)
        assert ids == tik.encode_ordinary(text) == hf.encode(text).ids
        assert hf.decode(ids) == text
    assert hf.encode("a<|endoftext|>b").ids == ours.encode("a<|endoftext|>b", allowed_special="all")


def test_all_input_formats_count_the_same(tmp_path):
    texts = _corpus(documents=30)
    expected = count_pretokens([_write_jsonl(tmp_path / "plain.jsonl", texts)], num_workers=1)
    jsonl = "".join(json.dumps({"body": t}) + "\n" for t in texts).encode()
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(jsonl))
    (tmp_path / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl))
    pq.write_table(pa.table({"body": texts}), tmp_path / "d.parquet")
    for name in ("b.jsonl.gz", "c.jsonl.zst", "d.parquet"):
        assert count_pretokens([tmp_path / name], text_field="body", num_workers=2) == expected
    text_dir = tmp_path / "texts"
    text_dir.mkdir()
    for i, text in enumerate(texts):
        (text_dir / f"{i:03}.txt").write_text(text, encoding="utf-8")
    stats = TrainStats()
    assert count_pretokens([text_dir], num_workers=2, stats=stats) == expected
    assert (stats.files, stats.documents) == (30, 30)
    assert stats.bytes_read == sum(len(t.encode()) for t in texts)


def test_counts_file_round_trip_gives_the_same_vocabulary(tmp_path):
    path = _write_jsonl(tmp_path / "docs.jsonl", _corpus())
    counts = count_pretokens([path])
    write_counts(tmp_path / "counts" / "a.parquet", counts)
    half = dict(list(counts.items())[: len(counts) // 2])
    write_counts(tmp_path / "split" / "part-0.parquet", half)
    write_counts(tmp_path / "split" / "part-1.parquet", {k: v for k, v in counts.items() if k not in half})
    assert read_counts([tmp_path / "counts" / "a.parquet"]) == counts
    assert read_counts([tmp_path / "split"]) == counts
    direct = train([path], vocab_size=600)
    assert train_from_counts(read_counts([tmp_path / "split"]), vocab_size=600).merges == direct.merges
    write_counts(tmp_path / "surrogates.parquet", dict([("a\ud800", 2), ("a\ufffd", 1), ("b", 1)]))
    assert read_counts([tmp_path / "surrogates.parquet"]) == {"a\ufffd": 3, "b": 1}
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    with pytest.raises(CorpusError, match="bad.parquet: not a counts file"):
        read_counts([tmp_path / "bad.parquet"])


def test_bad_input_is_reported_not_fatal_or_silent(tmp_path):
    with pytest.raises(ValueError, match="too small"):
        train_from_counts({"ab": 3}, vocab_size=256)
    for special in ("[PAD]", "<|end of text|>", "hello"):
        with pytest.raises(ValueError, match="must look like"):
            train_from_counts({"ab": 3}, vocab_size=300, special_tokens=(special,))
    with pytest.raises(CorpusError, match="missing.txt: no such file"):
        train([tmp_path / "missing.txt"], vocab_size=300)
    (tmp_path / "data.bin").write_bytes(b"x")
    with pytest.raises(CorpusError, match="data.bin: unknown format"):
        train([tmp_path / "data.bin"], vocab_size=300)
    (tmp_path / "latin1.txt").write_bytes("café crème brûlée ".encode("latin-1") * 20)
    stats = TrainStats()
    encoding = train([tmp_path / "latin1.txt"], vocab_size=262, stats=stats)
    assert stats.documents_with_replaced_bytes == 1
    assert encoding.n_vocab == 262


def test_running_out_of_pairs_stops_with_a_warning(tmp_path):
    (tmp_path / "tiny.txt").write_text("ab ab ab cd")
    stats = TrainStats()
    with pytest.warns(UserWarning, match="stopped after"):
        encoding = train([tmp_path / "tiny.txt"], vocab_size=1000, stats=stats)
    assert encoding.n_vocab == 256 + stats.merges + 1 < 1000
    assert stats.notes and "stopped after" in stats.notes[0]


def test_cli_train_from_inputs_and_from_counts(tmp_path):
    path = _write_jsonl(tmp_path / "docs.jsonl", _corpus())
    runner = CliRunner()
    args = ["bpe", "train", str(path), "--vocab-size", "500", "--out", str(tmp_path / "v1")]
    result = runner.invoke(main, [*args, "--save-counts", str(tmp_path / "counts.parquet")])
    assert result.exit_code == 0, result.output
    assert "unique pre-tokens" in result.output and "peak memory" in result.output
    summary = json.loads((tmp_path / "v1" / "training.json").read_text())
    assert summary["merges"] == 500 - 257 and summary["documents"] == 60
    result = runner.invoke(
        main,
        [
            "bpe",
            "train",
            "--counts",
            str(tmp_path / "counts.parquet"),
            "--vocab-size",
            "500",
            "--out",
            str(tmp_path / "v2"),
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("encoder.json", "vocab.bpe", "tokenizer.json"):
        assert (tmp_path / "v1" / name).read_bytes() == (tmp_path / "v2" / name).read_bytes()
    result = runner.invoke(main, ["bpe", "train", "--vocab-size", "500", "--out", str(tmp_path / "v3")])
    assert result.exit_code != 0 and "either INPUTS" in result.output


def _many_small_files(directory: Path, count: int = 40) -> list[Path]:
    directory.mkdir()
    texts = _corpus(documents=count)
    return [_write_jsonl(directory / f"{i:02}.jsonl", [text]) for i, text in enumerate(texts)]


def test_a_failing_or_dying_worker_is_an_error_not_a_hang(tmp_path, monkeypatch):
    import os

    import bpe.trainer as train_module

    paths = _many_small_files(tmp_path / "docs")
    monkeypatch.setattr(train_module, "_BATCH_CHARS", 500)  # many batches, so feeding must notice

    def explode(*args, **kwargs):
        raise ValueError("worker exploded")

    monkeypatch.setattr(train_module, "count_pieces", explode)  # forked workers inherit it
    with pytest.raises(ValueError, match="worker exploded"):
        count_pretokens(paths, num_workers=2)

    monkeypatch.setattr(train_module, "count_pieces", lambda *args, **kwargs: os._exit(9))  # as if OOM-killed
    with pytest.raises(RuntimeError, match="exit code 9"):
        count_pretokens(paths, num_workers=2)
    with pytest.raises(regex.error):
        count_pretokens(paths, pattern="(", num_workers=2)


def test_a_bad_file_mid_stream_ends_the_command(tmp_path):
    import subprocess
    import sys

    paths = _many_small_files(tmp_path / "docs")
    (tmp_path / "docs" / "99.jsonl").write_text('{"text": "fine"}\n{broken\n')
    command = [
        sys.executable,
        "-m",
        "webtext.cli",
        "bpe",
        "train",
        str(tmp_path / "docs"),
        "--out",
        str(tmp_path / "v"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "99.jsonl:2: invalid JSON" in result.stderr
    assert len(paths) == 40


def test_custom_pattern_reaches_every_format(tmp_path):
    from tokenizers import Tokenizer

    digits_apart = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    texts = [f"Order {n} shipped {n * 7} items in {n % 12} boxes." for n in range(1000, 1400)]
    path = _write_jsonl(tmp_path / "docs.jsonl", texts)
    result = CliRunner().invoke(
        main,
        [
            "bpe",
            "train",
            str(path),
            "--vocab-size",
            "400",
            "--pattern",
            digits_apart,
            "--out",
            str(tmp_path / "v"),
        ],
    )
    assert result.exit_code == 0, result.output
    ours = bpe.load(tmp_path / "v", pat_str=digits_apart)
    hf = Tokenizer.from_file(str(tmp_path / "v" / "tokenizer.json"))
    text = "Order 12345 shipped 99 items."
    assert ours.encode(text) == hf.encode(text).ids
    assert all(len(ours.decode_single_token_bytes(i).strip(b" ")) <= 1 for i in ours.encode("12345"))
