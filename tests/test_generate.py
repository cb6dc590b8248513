"""Scoring and sampling: probabilities and greedy text equal transformers', seeds repeat, both loaders work."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tiny_gpt2 import save_tiny_hf_gpt2

from model.gpt import GPT
from model.hf import load_hf
from model.sample import continuation_logprobs, next_token_table, sample_ids, sample_text, stream_text
from webtext.cli import main

transformers = pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]
PROMPT = "What do you"


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return save_tiny_hf_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_positions=128)


@pytest.fixture(scope="module")
def theirs(hf_dir):
    return transformers.GPT2LMHeadModel.from_pretrained(hf_dir).eval()


@pytest.fixture(scope="module")
def ours(hf_dir):
    return load_hf(hf_dir).eval()


def test_next_token_table_equals_transformers_softmax(ours, theirs, gpt2):
    ids = gpt2.encode(PROMPT)
    with torch.no_grad():
        probs = theirs(torch.tensor([ids])).logits[0, -1].float().softmax(-1)
    expected = torch.topk(probs, 10)
    table = next_token_table(ours, gpt2, PROMPT)
    assert [token for token, _ in table] == [gpt2.decode([i]) for i in expected.indices.tolist()]
    assert torch.allclose(torch.tensor([p for _, p in table]), expected.values, rtol=0, atol=1e-5)
    assert table[0][1] > 0.01  # far from uniform (2e-5), so the tolerance above means something


def test_continuation_logprobs_equal_transformers(ours, theirs, gpt2):
    context, continuation = gpt2.encode("The quick brown"), gpt2.encode(" fox jumps over the lazy dog")
    with torch.no_grad():
        logits = theirs(torch.tensor([context + continuation])).logits[0].float()
    expected = logits.log_softmax(-1)[len(context) - 1 : -1].gather(-1, torch.tensor(continuation)[:, None])
    assert torch.allclose(continuation_logprobs(ours, context, continuation), expected[:, 0], atol=1e-4)


def test_top_k_1_is_transformers_greedy_and_stop_ends_early(ours, theirs, gpt2):
    ids = gpt2.encode(PROMPT)
    with torch.no_grad():
        greedy = theirs.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            do_sample=False,
            max_new_tokens=20,
            pad_token_id=gpt2.eot_token,
        )[0, len(ids) :].tolist()
    assert len(greedy) == 20
    assert sample_ids(ours, ids, 20, top_k=1) == greedy
    assert sample_text(ours, gpt2, PROMPT, 20, top_k=1, seed=123) == gpt2.decode(greedy)
    stop = greedy[5]
    assert sample_ids(ours, ids, 20, top_k=1, stop=stop) == greedy[: greedy.index(stop)]


def test_seed_repeats_the_sample(ours, gpt2):
    first, again, other = (sample_text(ours, gpt2, PROMPT, 30, seed=seed) for seed in (7, 7, 8))
    assert first == again
    assert first != other


def test_cli_prints_table_and_sample_from_hf_dir_and_checkpoint(ours, hf_dir, gpt2_dir, gpt2, tmp_path):
    # The trainer's format; dropout 0.1 in the config checks that the loaded model samples in eval mode.
    checkpoint = tmp_path / "ckpt.pt"
    config = dataclasses.asdict(dataclasses.replace(ours.config, dropout=0.1))
    state = {"config": config, "model": ours.state_dict(), "optimizer": {}, "step": 3, "train_config": {}}
    torch.save({**state, "loaders": {}, "rng": {}}, checkpoint)
    common = ["generate", "--vocab", str(gpt2_dir), "--prompt", PROMPT, "--max-tokens", "15", "--seed", "5"]
    runner = CliRunner()
    from_hf = runner.invoke(main, [*common, "--hf-dir", str(hf_dir), "--show-probs"])
    from_checkpoint = runner.invoke(main, [*common, "--checkpoint", str(checkpoint)])
    assert from_hf.exit_code == 0, from_hf.output
    assert from_checkpoint.exit_code == 0, from_checkpoint.output

    token, probability = next_token_table(ours, gpt2, PROMPT)[0]
    lines = from_hf.output.splitlines()
    assert lines[0] == f"next token after {PROMPT!r}:"
    assert lines[1] == f"  {100 * probability:5.1f}%  {token!r}"
    sample = PROMPT + sample_text(ours, gpt2, PROMPT, 15, seed=5) + "\n"
    assert from_hf.output.endswith(sample)
    assert from_checkpoint.output == sample


def test_cli_rejects_bad_sources(hf_dir, gpt2_dir, tmp_path):
    not_a_checkpoint = tmp_path / "weights.pt"
    torch.save({"step": 1}, not_a_checkpoint)
    runner = CliRunner()
    bad = runner.invoke(main, ["generate", "--vocab", str(gpt2_dir), "--checkpoint", str(not_a_checkpoint)])
    assert bad.exit_code == 1
    assert "not a training checkpoint" in bad.output
    both = [
        "generate",
        "--vocab",
        str(gpt2_dir),
        "--checkpoint",
        str(not_a_checkpoint),
        "--hf-dir",
        str(hf_dir),
    ]
    assert runner.invoke(main, both).exit_code == 2


def test_streamed_pieces_join_to_the_decoded_sample(ours, gpt2):
    for seed in range(4):
        pieces = list(stream_text(ours, gpt2, PROMPT, 40, seed=seed))
        generator = torch.Generator().manual_seed(seed)
        ids = sample_ids(ours, gpt2.encode(PROMPT), 40, top_k=40, generator=generator, stop=gpt2.eot_token)
        assert "".join(pieces) == gpt2.decode(ids)
        assert len(pieces) > 1 and all(pieces)


def test_cli_streams_the_sample_as_it_is_drawn(hf_dir, gpt2_dir):
    """The first characters arrive while the run is still going, and an interrupt keeps them."""
    command = [
        sys.executable,
        "-m",
        "webtext.cli",
        "generate",
        "--hf-dir",
        str(hf_dir),
        "--vocab",
        str(gpt2_dir),
    ]
    command += ["--prompt", PROMPT, "--max-tokens", "100000", "--no-token-cap", "--seed", "1", "--top-k", "1"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = b""
        while len(seen) < len(PROMPT) + 20:
            chunk = os.read(process.stdout.fileno(), 4096)
            assert chunk, process.stderr.read().decode()
            seen += chunk
        assert process.poll() is None  # still sampling
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (seen + rest).decode().startswith(PROMPT) and len(seen) >= len(PROMPT) + 20


def test_cli_caps_max_tokens_at_four_blocks_unless_told(hf_dir, gpt2_dir):
    common = [
        "generate",
        "--hf-dir",
        str(hf_dir),
        "--vocab",
        str(gpt2_dir),
        "--prompt",
        PROMPT,
        "--seed",
        "1",
    ]
    refused = CliRunner().invoke(main, [*common, "--max-tokens", "1000000"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "--max-tokens 1,000,000 is more than 4 x the model's block size (512 tokens)" in refused.output
    assert "--no-token-cap" in refused.output
    at_cap = CliRunner().invoke(main, [*common, "--max-tokens", "512", "--top-k", "1"])
    assert at_cap.exit_code == 0, at_cap.output


def test_cli_refuses_a_vocabulary_larger_than_the_model_s(ours, gpt2_dir, tmp_path):
    small = GPT(dataclasses.replace(ours.config, vocab_size=300))
    checkpoint = tmp_path / "small-vocab.pt"
    state = {
        "config": dataclasses.asdict(small.config),
        "model": small.state_dict(),
        "optimizer": {},
        "step": 1,
    }
    torch.save({**state, "train_config": {}, "loaders": {}, "rng": {}}, checkpoint)
    run = CliRunner().invoke(main, ["generate", "--checkpoint", str(checkpoint), "--vocab", str(gpt2_dir)])
    assert run.exit_code == 1 and "Traceback" not in run.output, run.output
    assert run.output.splitlines() == [
        "Error: the vocabulary 'gpt2' has 50,257 tokens, the model only 300: give the model's own with --vocab"
    ]
