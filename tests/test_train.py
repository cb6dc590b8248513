"""Training on CPU: learning, exact resume, torchrun DDP = gradient accumulation, checkpoints, the loader."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from manifests import write_manifest

import model.train
from model.checkpoint import CheckpointError, checkpoint_step, load_checkpoint, load_model, save_checkpoint
from model.gpt import GPT
from model.loader import TokenLoader, TokenLoaderError
from model.parallel import Parallelized, _fsdp_no_sync, parallelize
from model.tokens import SHARD_GLOB, SUMMARY_FILE, write_shard
from model.train import Runtime, TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
VOCAB = 256
TINY = {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": VOCAB, "seq_len": 16, "batch_size": 4}


def write_data(directory: Path) -> Path:
    """Two train shards and a val shard of a noisy repeating sequence: learnable, yet not trivially."""
    rng = np.random.default_rng(0)
    directory.mkdir()
    for name, repeats in (("train_000000", 120), ("train_000001", 80), ("val_000000", 30)):
        tokens = np.tile(np.arange(64), repeats)
        noise = rng.random(tokens.size) < 0.05
        tokens[noise] = rng.integers(64, VOCAB, noise.sum())
        write_shard(directory / f"webtext_{name}.bin", tokens)
    write_manifest(directory, SUMMARY_FILE, SHARD_GLOB)
    return directory


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_data(tmp_path / "data")


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a small shared box more threads only spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(data: Path, out: Path, **overrides: object) -> TrainConfig:
    values = {
        "train_pattern": str(data / "webtext_train_*.bin"),
        "val_pattern": str(data / "webtext_val_*.bin"),
        "out_dir": str(out),
        **TINY,
        "total_batch_tokens": 128,  # two micro batches of 4 × 16
        "lr": 1e-2,
        "warmup_steps": 2,
        "max_steps": 6,
        "val_interval": 2,
        "val_steps": 2,
        "checkpoint_interval": 0,
    }
    return TrainConfig(**{**values, **overrides})


def logged(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_tiny_model_learns(data: Path, tmp_path: Path) -> None:
    summary = train(config(data, tmp_path / "out", max_steps=40, warmup_steps=3, val_interval=20))
    assert summary["accumulation_steps"] == 2
    assert summary["losses"][0] > 5.0  # ln(256) ≈ 5.55 at the start
    assert summary["losses"][-1] < 2.0
    assert Path(summary["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = logged(tmp_path / "out")
    assert [row["step"] for row in rows] == list(range(40))
    assert [row["step"] for row in rows if row["val_loss"] is not None] == [0, 20, 39]
    assert rows[-1]["val_loss"] < 2.0
    assert (tmp_path / "out" / "log.csv").read_text().startswith("step,loss,val_loss,lr,grad_norm")
    model = load_model(tmp_path / "out" / "checkpoint.pt")
    assert checkpoint_step(tmp_path / "out" / "checkpoint.pt") == 40  # what `explore` shows
    assert model.lm_head.weight is model.wte.weight and not model.training
    prompt = torch.arange(10, 26).unsqueeze(0)
    assert model.generate(prompt, 4, top_k=1)[0, 16:].tolist() == [26, 27, 28, 29]


def test_resume_repeats_an_uninterrupted_run_exactly(data: Path, tmp_path: Path) -> None:
    whole = train(config(data, tmp_path / "whole"))["losses"]
    first = train(config(data, tmp_path / "split", stop_step=3))
    assert first["losses"] == whole[:3]
    second = train(config(data, tmp_path / "split", resume=True))
    assert second["start_step"] == 3
    assert second["losses"] == whole[3:]
    split_rows, whole_rows = logged(tmp_path / "split"), logged(tmp_path / "whole")
    for key in ("step", "loss", "val_loss", "lr", "grad_norm"):
        assert [row[key] for row in split_rows] == [row[key] for row in whole_rows]
    a, b = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("whole", "split"))
    assert a["step"] == b["step"] == 6
    assert all(torch.equal(a["model"][key], b["model"][key]) for key in a["model"])


def test_compiled_training_matches_eager(data: Path, tmp_path: Path) -> None:
    """--compile (inductor, the GPU path's speed-up) runs on CPU too and trains the same model."""
    eager = train(config(data, tmp_path / "eager", max_steps=3, val_interval=0))["losses"]
    compiled = train(config(data, tmp_path / "compiled", max_steps=3, val_interval=0, compile=True))["losses"]
    assert compiled == pytest.approx(eager, abs=1e-4)


def test_resume_refuses_a_different_model(data: Path, tmp_path: Path) -> None:
    train(config(data, tmp_path / "out", stop_step=1))
    with pytest.raises(ValueError, match="holds a model"):
        train(config(data, tmp_path / "out", n_embd=64, resume=True))


def test_batch_that_does_not_divide_is_refused(data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a multiple"):
        train(config(data, tmp_path / "out", total_batch_tokens=100))


def torchrun(data: Path, out: Path, processes: int, *options: str) -> list[tuple[float, float | None]]:
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"),
        *("-m", "webtext.cli", "train", "--data", str(data), "--out", str(out)),
        *("--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--vocab-size", str(VOCAB)),
        *("--batch-size", "4", "--seq-len", "16", "--total-batch-tokens", "128", "--max-steps", "4"),
        *("--lr", "1e-2", "--warmup-steps", "2", "--val-interval", "2", "--val-steps", "2"),
        *options,
    ]
    # One thread each, so that a matmul sums in the same order in both runs.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(load_checkpoint(out / "checkpoint.pt")["loaders"]) == processes
    return [(row["loss"], row["val_loss"]) for row in logged(out)]


def test_two_processes_ddp_and_fsdp_equal_one_accumulating(data: Path, tmp_path: Path) -> None:
    """DDP over 2 ranks (1 micro batch each) reads and averages exactly what 1 rank accumulating 2 does.

    Exact equality holds: the 1/2 scaling is a power of two, and a two-term sum does not depend on order.
    FSDP trains the same model, though not bit for bit: the gradient norm is summed shard by shard, so
    clipping rounds differently. Its sharded state survives a resume exactly.
    """
    one = torchrun(data, tmp_path / "one", 1)
    assert len(one) == 4
    assert torchrun(data, tmp_path / "two", 2) == one

    sharded = torchrun(data, tmp_path / "fsdp", 2, "--fsdp")
    assert np.allclose(np.array(sharded, dtype=float), np.array(one, dtype=float), atol=1e-5, equal_nan=True)
    assert torchrun(data, tmp_path / "split", 2, "--fsdp", "--stop-step", "2") == sharded[:2]
    assert torchrun(data, tmp_path / "split", 2, "--fsdp", "--resume") == sharded
    whole, split = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("fsdp", "split"))
    assert all(torch.equal(whole["model"][key], split["model"][key]) for key in whole["model"])
    # The checkpoint holds whole tensors: a plain single-process model loads it.
    assert load_model(tmp_path / "fsdp" / "checkpoint.pt").wte.weight.shape == (VOCAB, 32)


def test_the_model_and_the_loop_know_nothing_of_parallelism() -> None:
    """DDP, FSDP and compile are applied from outside (model.parallel): neither the training module nor
    GPT.forward branches on them, or on the device."""
    loop = inspect.getsource(model.train)
    wrappers = ("DistributedDataParallel", "fully_shard", "no_sync", "set_requires_gradient_sync", "DTensor")
    assert not [name for name in wrappers if name in loop]
    for name in ("torch.compile", "config.fsdp", "config.compile"):
        assert name not in inspect.getsource(model.train._train)
    forward = inspect.getsource(GPT.forward)
    for name in ("is_cuda", "device", "autocast", "is_compiling", "world_size"):
        assert name not in forward


def test_parallelize_one_process_leaves_the_model_or_compiles_it(tmp_path: Path) -> None:
    def one_process(dtype: torch.dtype = torch.float32, **overrides: object) -> tuple[GPT, Parallelized]:
        gpt = GPT(TrainConfig(train_pattern="unused", **{**TINY, **overrides}).gpt_config())
        runtime = Runtime(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"), dtype=dtype)
        return gpt, parallelize(gpt, runtime, TrainConfig(train_pattern="unused", **overrides))

    gpt, parallel = one_process()
    assert parallel.module is gpt
    assert gpt.fused_loss  # eager fp32 on a CPU: the fused head + loss
    assert isinstance(parallel.sync_gradients(False), contextlib.nullcontext)  # nothing to reduce
    assert isinstance(parallel.sync_gradients(True), contextlib.nullcontext)

    gpt, parallel = one_process(compile=True)
    assert isinstance(parallel.module, torch._dynamo.eval_frame.OptimizedModule)
    assert parallel.module._orig_mod is gpt
    assert not gpt.fused_loss  # inductor fuses the plain path itself

    gpt, parallel = one_process(torch.bfloat16)
    assert parallel.module is gpt and not gpt.fused_loss  # autocast takes the plain ops


def test_sync_gradients_skips_only_the_non_final_micro_steps() -> None:
    """FSDP2's gradient sync is a setting that backward reads: off inside the context, on again after."""
    settings: list[bool] = []

    class Sharded:
        def set_requires_gradient_sync(self, enabled: bool) -> None:
            settings.append(enabled)

    parallel = Parallelized(torch.nn.Identity(), lambda: _fsdp_no_sync(Sharded()))
    with parallel.sync_gradients(False):
        assert settings == [False]
    assert settings == [False, True]
    with parallel.sync_gradients(True):
        pass
    assert settings == [False, True]


def test_checkpoint_atomicity_and_corruption(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(config(data, out, stop_step=2))
    path = out / "checkpoint.pt"
    good = load_checkpoint(path)
    assert good["step"] == 2
    assert len(good["loaders"]) == len(good["rng"]) == 1
    torch.load(path, weights_only=True)  # only tensors and plain values inside

    # A save that fails half way leaves the previous checkpoint as it was, and no temporary file.
    broken = {**good, "train_config": {"unpicklable": lambda: None}}
    with pytest.raises(Exception, match="lambda|pickle"):
        save_checkpoint(path, broken)
    assert load_checkpoint(path)["step"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "log.csv", "log.jsonl", "loss.png"]

    # A run killed mid-save leaves only a temporary file: that is never taken for a checkpoint.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".checkpoint.pt.abc123.tmp").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(config(data, fresh, resume=True))

    # A truncated checkpoint is refused with a clear error, not loaded or crashed on.
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)
    torch.save({"model": {}}, path)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_checkpoint(path)


def test_loader_ranks_are_disjoint_and_cover_the_stream(tmp_path: Path) -> None:
    sizes = (1000, 700)
    for index, size in enumerate(sizes):
        write_shard(tmp_path / f"s_{index}.bin", (np.arange(size) + 10_000 * index) % 65536)
    world, batch, seq = 3, 2, 8
    loaders = [TokenLoader(str(tmp_path / "s_*.bin"), batch, seq, rank, world) for rank in range(world)]
    seen = []
    for _ in range(30):
        for loader in loaders:
            x, y = loader.next_batch()
            assert x.dtype == y.dtype == torch.int64 and x.shape == (batch, seq)
            assert torch.equal(x.flatten()[1:], y.flatten()[:-1])
            seen.append(x.flatten())
    stream = torch.cat(seen).tolist()
    window = world * batch * seq
    # Each shard gives its whole windows in order, then the next shard starts, then it wraps around.
    per_shard = [(size - 1) // window * window for size in sizes]
    expected = [*range(per_shard[0]), *range(10_000, 10_000 + per_shard[1])]
    assert stream == (expected * 3)[: len(stream)]


def test_loader_state_round_trip_and_errors(tmp_path: Path) -> None:
    write_shard(tmp_path / "a.bin", np.arange(500))
    write_shard(tmp_path / "b.bin", np.arange(300, 700))
    pattern = str(tmp_path / "*.bin")
    loader = TokenLoader(pattern, 2, 16, rank=1, world_size=2)
    for _ in range(9):
        loader.next_batch()
    state = loader.state_dict()
    expected = [loader.next_batch() for _ in range(5)]
    resumed = TokenLoader(pattern, 2, 16, rank=1, world_size=2)
    resumed.load_state_dict(state)
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(expected, (resumed.next_batch() for _ in range(5)))
    )

    with pytest.raises(TokenLoaderError, match="no token shards match"):
        TokenLoader(str(tmp_path / "missing_*.bin"), 2, 16)
    write_shard(tmp_path / "c.bin", np.arange(64))  # shorter than one window of 65: skipped
    assert TokenLoader(pattern, 2, 16, rank=0, world_size=2).skipped == [str(tmp_path / "c.bin")]
    with pytest.raises(TokenLoaderError, match=r"fewer tokens than one window of 65"):
        TokenLoader(str(tmp_path / "c.bin"), 2, 16, rank=0, world_size=2)
