"""--vocab on the command line: gpt2 by default, recorded by tokenize, followed by train, generate and eval,
and a mismatch between shards, model and vocabulary is a one-line error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from manifests import write_manifest

import bpe
from bpe.registry import describe
from model.checkpoint import load_checkpoint
from model.hf import save_hf
from webtext.cli import main
from webtext.shards import SCHEMA, SHARD_GLOB, STATS_FILE, document_id, shard_name

TEXTS = [f"Document {i}: the lower lowest newer newest wider widest river {i % 7}." for i in range(40)]
TINY_TRAIN = [
    *("--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--seq-len", "8", "--batch-size", "2"),
    *("--total-batch-tokens", "16", "--max-steps", "2", "--warmup-steps", "1", "--val-interval", "0"),
]


def invoke(*args: object, stdin: str | None = None):
    """The command as a user runs it, with no WEBTEXT_VOCAB in the environment."""
    return CliRunner(env={"WEBTEXT_VOCAB": None}).invoke(main, [str(arg) for arg in args], input=stdin)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A `webtext build` output of TEXTS, and a small vocabulary of our own trained on them."""
    directory = tmp_path_factory.mktemp("corpus")
    rows = [{"id": document_id(f"https://example.com/{i}"), "text": text} for i, text in enumerate(TEXTS)]
    schema = pa.schema([SCHEMA.field("id"), SCHEMA.field("text")])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), directory / shard_name(0, 1))
    write_manifest(directory, STATS_FILE, SHARD_GLOB)
    (directory / "docs.txt").write_text("\n".join(TEXTS))
    bpe.train([directory / "docs.txt"], vocab_size=290, name="small").save(directory / "small")
    return directory


@pytest.fixture(scope="module")
def small_run(corpus, tmp_path_factory) -> Path:
    """tokenize with the small vocabulary, then a tiny model trained on those shards."""
    run = tmp_path_factory.mktemp("small-run")
    tokenized = invoke("tokenize", "--shards", corpus, "--vocab", corpus / "small", "--out", run / "tokens")
    assert tokenized.exit_code == 0, tokenized.output
    trained = invoke("train", "--data", run / "tokens", "--out", run / "model", *TINY_TRAIN)
    assert trained.exit_code == 0, trained.output
    return run


def test_encode_defaults_to_the_packaged_gpt2(corpus):
    assert invoke("bpe", "encode", stdin="Hello world").output == "15496 995\n"
    assert invoke("bpe", "encode", "--vocab", "gpt2", stdin="Hello world").output == "15496 995\n"
    from_env = CliRunner(env={"WEBTEXT_VOCAB": str(corpus / "small")}).invoke(
        main, ["bpe", "encode"], input="river"
    )
    assert from_env.output == " ".join(map(str, bpe.load(corpus / "small").encode("river"))) + "\n"
    missing = invoke("bpe", "encode", "--vocab", "no/such/dir", stdin="x")
    assert missing.exit_code == 1
    assert "no/such/dir: neither a packaged encoding (gpt2) nor a vocabulary directory" in missing.output


def test_tokenize_records_the_vocabulary_and_train_follows_it(corpus, small_run):
    small = bpe.load(corpus / "small")
    summary = json.loads((small_run / "tokens" / "tokenize.json").read_text())
    assert summary["vocab"] == describe(small, str((corpus / "small").resolve()))
    checkpoint = load_checkpoint(small_run / "model" / "checkpoint.pt")
    assert checkpoint["config"]["vocab_size"] == small.n_vocab == 290
    assert checkpoint["train_config"]["vocab"] == summary["vocab"]

    wrong = invoke(
        "train",
        "--data",
        small_run / "tokens",
        "--out",
        small_run / "other",
        *TINY_TRAIN,
        "--vocab-size",
        "50257",
    )
    assert wrong.exit_code == 1
    assert "vocab_size is 50,257, but the shards were made with 'small' of 290 tokens" in wrong.output

    torn = small_run / "torn"
    shutil.copytree(small_run / "tokens", torn)
    (torn / "tokenize.json").write_text('{"vocab": {"name": "sm')
    broken = invoke("train", "--data", torn, "--out", small_run / "other", *TINY_TRAIN)
    assert broken.exit_code == 1
    assert f"{torn / 'tokenize.json'}: not a readable tokenize summary" in broken.output


def test_generate_and_eval_use_the_checkpoint_s_vocabulary(corpus, small_run, tmp_path):
    checkpoint = small_run / "model" / "checkpoint.pt"
    sample = [
        "generate",
        "--checkpoint",
        checkpoint,
        "--prompt",
        "Document 3",
        "--max-tokens",
        "5",
        "--seed",
        "1",
    ]
    own = invoke(*sample)
    assert own.exit_code == 0, own.output
    assert own.output.startswith("Document 3")
    assert invoke(*sample, "--vocab", corpus / "small").output == own.output

    other = invoke(*sample, "--vocab", "gpt2")
    assert other.exit_code == 1
    assert "the checkpoint: made with the vocabulary 'small' (290 tokens" in other.output
    assert "not 'gpt2' (50,257 tokens" in other.output

    heldout = ["eval", "--checkpoint", checkpoint, "--task", "heldout", "--no-progress", "--data"]
    assert invoke(*heldout, small_run / "tokens").exit_code == 0
    gpt2_tokens = tmp_path / "gpt2-tokens"
    assert invoke("tokenize", "--shards", corpus, "--out", gpt2_tokens).exit_code == 0  # gpt2 by default
    assert json.loads((gpt2_tokens / "tokenize.json").read_text())["vocab"]["source"] == "gpt2"
    mismatch = invoke(*heldout, gpt2_tokens)
    assert mismatch.exit_code == 1
    assert f"the token shards in {gpt2_tokens}: made with the vocabulary 'gpt2'" in mismatch.output

    moved = tmp_path / "moved"
    shutil.copytree(corpus / "small", moved)
    shutil.rmtree(corpus / "small")
    try:
        gone = invoke(*sample)
        assert gone.exit_code == 1
        assert "which is not at" in gone.output and "give it with --vocab DIR" in gone.output
        assert invoke(*sample, "--vocab", moved).output == own.output
    finally:
        shutil.copytree(moved, corpus / "small")


def test_hf_dir_brings_its_tokenizer(corpus, tmp_path):
    small = bpe.load(corpus / "small")
    torch.manual_seed(0)
    from model.gpt import GPT, GPTConfig

    save_hf(
        GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=small.n_vocab)),
        tmp_path,
        small,
    )
    sample = ["generate", "--hf-dir", tmp_path, "--prompt", "the newest", "--max-tokens", "4", "--show-probs"]
    result = invoke(*sample)
    assert result.exit_code == 0, result.output  # GPT-2's 50,257 tokens would not fit this model
    assert invoke(*sample, "--vocab", "gpt2").exit_code == 1
    for name in ("tokenizer.json", "vocab.json", "merges.txt"):
        (tmp_path / name).unlink()
    too_big = invoke(*sample)  # no tokenizer files: GPT-2's
    assert too_big.exit_code == 1
    assert "'gpt2' has 50,257 tokens, the model only 290: give the model's own with --vocab" in too_big.output
