"""GPT-2 pretraining on token shards: one process, or one per GPU under torchrun (DDP, or FSDP).

The recipe is GPT-2's as nanoGPT/llm.c reproduce it: AdamW (0.9, 0.95), weight decay 0.1 on matrices,
linear warmup then cosine decay to lr/10, gradient clipping at 1.0, and a batch of 524,288 tokens made of
micro batches accumulated across steps and ranks. A checkpoint holds everything a step depends on
(weights, optimizer moments, each rank's data position and RNG), so on the CPU a resumed run repeats an
uninterrupted one bit for bit.

Under torchrun the model is replicated (DDP) by default, or sharded with `fsdp`; `model.parallel.parallelize`
applies either (and torch.compile) from outside, so the loop here is the same in every case. Checkpoints
hold full, unsharded state either way, so a run can resume with or without FSDP.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from bpe.registry import check_same
from model.checkpoint import check_writable, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from model.files import write_atomically
from model.gpt import GPT, GPTConfig
from model.loader import TokenLoader
from model.parallel import clip_grad_norm_, parallelize

CHECKPOINT_NAME = "checkpoint.pt"
RUN_FILES = (CHECKPOINT_NAME, "log.jsonl")
"""Either one in out_dir means a run is there, which a new run must not silently replace."""
REWRITTEN_FILES = (CHECKPOINT_NAME, "log.jsonl", "log.csv")
"""Files written atomically (`model.files.write_atomically`): a kill meanwhile leaves .NAME.*.tmp behind."""
LOG_FIELDS = ("step", "loss", "val_loss", "lr", "grad_norm", "tokens_per_s", "mfu", "seconds")

# Dense bf16 tensor-core peak FLOP/s, by a substring of torch.cuda.get_device_name(); first match wins.
PEAK_BF16_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
)


@dataclass
class TrainConfig:
    train_pattern: str
    """Glob of the token shards to train on (webtext_train_*.bin of a `tokenize` output)."""
    val_pattern: str | None = None
    """Glob of the shards for the validation loss; None: no validation."""
    out_dir: str = "out/train"
    """Directory for checkpoint.pt, log.jsonl, log.csv and loss.png."""
    model: str = "124M"
    """GPT-2 size to train: 124M, 355M, 774M or 1558M (n_layer, n_head, n_embd override its shape)."""
    n_layer: int | None = None
    """Transformer blocks; None: the size's own."""
    n_head: int | None = None
    """Attention heads per block (must divide n_embd); None: the size's own."""
    n_embd: int | None = None
    """Width of the residual stream; None: the size's own."""
    vocab_size: int = 50257
    """Tokens in the vocabulary: the shards' own (their tokenize.json) unless set."""
    vocab: dict | None = None
    """The record of the vocabulary the shards were made with (their tokenize.json; `bpe.registry.describe`):
    vocab_size must be its size, and checkpoints keep it so that sampling and evaluation use the same one."""
    seq_len: int = 1024
    """Tokens per training sequence."""
    block_size: int | None = None
    """The model's context; None: seq_len."""
    batch_size: int = 16
    """Sequences per micro batch per rank."""
    total_batch_tokens: int = 524_288
    """Tokens per optimizer step over all ranks, reached by gradient accumulation (GPT-2's 0.5M)."""
    lr: float = 6e-4
    """Peak learning rate, reached after warmup; cosine decay to min_lr."""
    min_lr: float | None = None
    """Learning rate at the end of the cosine decay (max_steps); None: lr / 10."""
    warmup_steps: int = 715
    """Steps of linear warmup from 0 to lr."""
    max_steps: int = 19_073
    """Optimizer steps in the whole run, which the schedule spans (19,073 × 0.5M tokens ≈ 10B)."""
    stop_step: int | None = None
    """End this run after this step (a job's time slot); the schedule still runs to max_steps."""
    weight_decay: float = 0.1
    """AdamW weight decay, on matrices and embeddings only."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW's beta1 and beta2."""
    grad_clip: float = 1.0
    """Clip the gradient's global norm to this before each step."""
    val_interval: int = 250
    """Steps between validation losses (from step 0, and at the last step); 0: none."""
    val_steps: int = 20
    """Micro batches per val loss in all, split over the ranks: the same tokens at any world size."""
    checkpoint_interval: int = 1000
    """Steps between checkpoints (one is always written at the end); 0: only at the end."""
    seed: int = 1337
    """Seed of the initial weights and of every random choice in training."""
    device: str = "auto"
    """auto: CUDA when there is a GPU, else cpu; or a torch device type (cuda, cpu)."""
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    """auto: bf16 autocast on CUDA, fp32 elsewhere; or bfloat16 / float32."""
    compile: bool = False
    """Run the model through torch.compile: faster steps after a slower first one."""
    fsdp: bool = False
    """Shard parameters, gradients and optimizer state over the ranks instead of replicating them."""
    resume: bool = False
    """Continue from out_dir's checkpoint.pt, exactly as if the run had not stopped."""
    overwrite: bool = False
    """Start afresh in an out_dir that holds a run (its checkpoint.pt and logs are replaced); without this or
    resume, such an out_dir is refused."""

    def __post_init__(self) -> None:
        if self.resume and self.overwrite:
            raise ValueError(
                "--resume continues the run in --out, --overwrite starts it over: give one of them"
            )

    def gpt_config(self) -> GPTConfig:
        shape = {key: getattr(self, key) for key in ("n_layer", "n_head", "n_embd") if getattr(self, key)}
        return GPTConfig.preset(
            self.model, **shape, vocab_size=self.vocab_size, block_size=self.block_size or self.seq_len
        )

    def lr_at(self, step: int) -> float:
        """Linear warmup to lr, then cosine decay to min_lr at max_steps."""
        min_lr = self.lr / 10 if self.min_lr is None else self.min_lr
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
        return min_lr + 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * (self.lr - min_lr)

    def accumulation_steps(self, world_size: int) -> int:
        per_step = self.batch_size * self.seq_len * world_size
        if self.total_batch_tokens % per_step:
            raise ValueError(
                f"total_batch_tokens {self.total_batch_tokens:,} is not a multiple of batch_size "
                f"{self.batch_size} × seq_len {self.seq_len} × world_size {world_size} = {per_step:,}"
            )
        return self.total_batch_tokens // per_step


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: its rank among world_size, its device and its autocast."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    dtype: torch.dtype

    @property
    def master(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


def _runtime(config: TrainConfig) -> Runtime:
    """Reads torchrun's RANK/WORLD_SIZE/LOCAL_RANK and joins the process group when there are several."""
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    kind = config.device if config.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(f"cuda:{local_rank}" if kind == "cuda" else kind)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.set_float32_matmul_precision("high")  # TF32 for whatever autocast leaves in fp32
    if world_size > 1:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    dtypes = {"bfloat16": torch.bfloat16, "float32": torch.float32}
    if config.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    elif config.dtype in dtypes:
        dtype = dtypes[config.dtype]
    else:
        raise ValueError(f"dtype {config.dtype!r}: choose auto, bfloat16 or float32")
    return Runtime(rank, local_rank, world_size, device, dtype)


def _peak_flops(runtime: Runtime) -> float | None:
    """The device's bf16 peak, or None where MFU would mean nothing (CPU, fp32, an unlisted GPU)."""
    if runtime.device.type != "cuda" or runtime.dtype != torch.bfloat16:
        return None
    name = torch.cuda.get_device_name(runtime.device)
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in name), None)


def _mean_over_ranks(value: torch.Tensor, runtime: Runtime) -> float:
    if runtime.world_size > 1:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)  # gloo has no AVG
        value /= runtime.world_size
    return value.item()


def _gather(obj: object, runtime: Runtime) -> list:
    if runtime.world_size == 1:
        return [obj]
    gathered: list = [None] * runtime.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


# Whole tensors on the CPU (rank 0's copy; a collective under FSDP), keyed by parameter name.
FULL_STATE = StateDictOptions(full_state_dict=True, cpu_offload=True)


@torch.no_grad()
def _evaluate(model: torch.nn.Module, config: TrainConfig, runtime: Runtime) -> float:
    """Mean loss over the same val batches every time: the val loader starts afresh."""
    steps = max(1, config.val_steps // runtime.world_size)
    loader = TokenLoader(
        config.val_pattern,
        config.batch_size,
        config.seq_len,
        runtime.rank,
        runtime.world_size,
        vocab_size=config.vocab_size,
    )
    model.eval()
    total = torch.zeros((), device=runtime.device)
    for _ in range(steps):
        x, y = (t.to(runtime.device) for t in loader.next_batch())
        with runtime.autocast():
            _, loss = model(x, y)
        total += loss.detach() / steps
    model.train()
    return _mean_over_ranks(total, runtime)


def _prepare_out_dir(config: TrainConfig) -> None:
    """Fails before any work on an out_dir that cannot be written or that holds a run the config neither
    resumes nor overwrites, and removes the temporary files of saves that a kill interrupted."""
    out_dir = check_writable(config.out_dir)
    found = [name for name in RUN_FILES if (out_dir / name).exists()]
    if found and not (config.resume or config.overwrite):
        raise ValueError(
            f"{out_dir} holds a run ({', '.join(found)}): continue it with --resume, or start over in it "
            "with --overwrite"
        )
    orphans = sorted(path for name in REWRITTEN_FILES for path in out_dir.glob(f".{name}.*.tmp"))
    for path in orphans:
        path.unlink()
    if orphans:
        print(
            f"note: removed {len(orphans)} temporary file(s) of interrupted saves from {out_dir}: "
            + ", ".join(path.name for path in orphans),
            file=sys.stderr,
        )


def _read_log(path: Path) -> list[dict]:
    """The rows of log.jsonl. A bad last line is a write cut short (a kill, a full disk): it is dropped with a
    warning; a bad line elsewhere is no log of ours, and an error naming it."""
    lines = path.read_bytes().splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                raise ValueError("not an object with a step")
        except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply for json
            if number == len(lines):
                print(f"warning: {path}:{number}: dropped a torn last line", file=sys.stderr)
                break
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise ValueError(f"{path}:{number}: not a row of the training log ({reason})") from None
        rows.append(row)
    return rows


def _csv_text(rows: list[dict]) -> str:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


class _Log:
    """log.jsonl and log.csv, one row per step; on resume, rows past the checkpoint's step are dropped. Both
    are rewritten atomically, so a kill meanwhile leaves each as it was or as rewritten, never a part."""

    def __init__(self, out_dir: Path, start_step: int) -> None:
        self.jsonl, self.csv = out_dir / "log.jsonl", out_dir / "log.csv"
        kept = []
        if start_step and self.jsonl.exists():
            kept = [row for row in _read_log(self.jsonl) if row["step"] < start_step]
        self.rows = kept
        jsonl = "".join(json.dumps(row) + "\n" for row in kept).encode()
        write_atomically(self.jsonl, lambda stream: stream.write(jsonl))
        write_atomically(self.csv, lambda stream: stream.write(_csv_text(kept).encode()))

    def write(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        with open(self.csv, "a", encoding="utf-8", newline="") as f:
            csv.DictWriter(f, LOG_FIELDS).writerow(row)


def _plot(rows: list[dict], path: Path) -> None:
    """Writes the loss curves to `path` (matplotlib, imported here: only rank 0 at the end needs it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    axes.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train")
    val = [r for r in rows if r["val_loss"] is not None]
    axes.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val")
    axes.set(xlabel="step", ylabel="loss", yscale="log")
    axes.legend()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def train(config: TrainConfig) -> dict:
    """Trains to config.max_steps and returns a summary (rank 0's; other ranks return theirs)."""
    runtime = _runtime(config)
    try:
        summary = _train(config, runtime)
        if runtime.world_size > 1:
            # Rank 0 may still be writing the checkpoint; a rank that tore gloo down meanwhile aborts.
            dist.barrier()
        return summary
    finally:
        if runtime.world_size > 1:
            dist.destroy_process_group()


def _train(config: TrainConfig, runtime: Runtime) -> dict:
    out_dir = Path(config.out_dir)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    accumulation = config.accumulation_steps(runtime.world_size)
    if config.vocab and config.vocab["n_vocab"] != config.vocab_size:
        raise ValueError(
            f"vocab_size is {config.vocab_size:,}, but the shards were made with {config.vocab['name']!r} "
            f"of {config.vocab['n_vocab']:,} tokens: leave --vocab-size out, or tokenize again"
        )
    gpt_config = config.gpt_config()
    if runtime.master:
        _prepare_out_dir(config)
    # The same seed everywhere gives every rank the same initial weights (DDP would broadcast them anyway).
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    model = GPT(gpt_config).to(runtime.device)
    # DDP, FSDP (which shards `model` in place) and compile come from outside; the loop calls .module.
    parallel = parallelize(model, runtime, config)
    optimizer = model.configure_optimizers(config.weight_decay, config.lr, config.betas, runtime.device.type)
    loader = TokenLoader(
        config.train_pattern,
        config.batch_size,
        config.seq_len,
        runtime.rank,
        runtime.world_size,
        vocab_size=config.vocab_size,
    )
    start_step = 0
    if config.resume:
        checkpoint = load_checkpoint(checkpoint_path)
        if checkpoint["config"] != dataclasses.asdict(gpt_config):
            raise ValueError(f"{checkpoint_path} holds a model of {checkpoint['config']}, not {gpt_config}")
        trained_with = checkpoint["train_config"].get("vocab")
        if trained_with and config.vocab:
            check_same(
                config.vocab, trained_with, str(checkpoint_path), "resume on the shards it was trained on"
            )
        if len(checkpoint["loaders"]) != runtime.world_size:
            raise ValueError(
                f"{checkpoint_path} was written by {len(checkpoint['loaders'])} rank(s); resume it with as "
                f"many, not {runtime.world_size}, or the data order changes"
            )
        set_model_state_dict(model, checkpoint["model"], options=StateDictOptions(full_state_dict=True))
        set_optimizer_state_dict(
            model, optimizer, checkpoint["optimizer"], options=StateDictOptions(full_state_dict=True)
        )
        loader.load_state_dict(checkpoint["loaders"][runtime.rank])
        set_rng_state(checkpoint["rng"][runtime.rank])
        start_step = checkpoint["step"]
        del checkpoint
    if runtime.master:
        log = _Log(out_dir, start_step)
    flops_per_token = model.estimate_flops_per_token()
    peak = _peak_flops(runtime)
    tokens_per_step = accumulation * config.batch_size * config.seq_len * runtime.world_size
    losses: list[float] = []
    started = time.perf_counter()

    def save(step: int) -> None:
        loaders, rngs = _gather(loader.state_dict(), runtime), _gather(rng_state(), runtime)
        model_state = get_model_state_dict(model, options=FULL_STATE)
        optimizer_state = get_optimizer_state_dict(model, optimizer, options=FULL_STATE)
        if runtime.master:
            save_checkpoint(
                checkpoint_path,
                {
                    "config": dataclasses.asdict(gpt_config),
                    "model": model_state,
                    "optimizer": optimizer_state,
                    "step": step,
                    "train_config": dataclasses.asdict(config),
                    "loaders": loaders,
                    "rng": rngs,
                },
            )

    end_step = min(config.max_steps, config.stop_step or config.max_steps)
    for step in range(start_step, end_step):
        step_started = time.perf_counter()
        last = step == config.max_steps - 1
        val_loss = None
        if config.val_pattern and config.val_interval and (step % config.val_interval == 0 or last):
            val_loss = _evaluate(parallel.module, config, runtime)
        optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=runtime.device)
        for micro in range(accumulation):
            x, y = (t.to(runtime.device, non_blocking=True) for t in loader.next_batch())
            # Gradients are reduced over the ranks once, on the last micro batch, not after every backward.
            with parallel.sync_gradients(micro == accumulation - 1):
                with runtime.autocast():
                    _, loss = parallel.module(x, y)
                loss = loss / accumulation
                loss_sum += loss.detach()
                loss.backward()
        grad_norm = clip_grad_norm_(model.parameters(), config.grad_clip)
        lr = config.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        train_loss = _mean_over_ranks(loss_sum, runtime)  # .item() also waits for the GPU
        seconds = time.perf_counter() - step_started
        tokens_per_s = tokens_per_step / seconds
        losses.append(train_loss)
        if runtime.master:
            row = {
                "step": step,
                "loss": train_loss,
                "val_loss": val_loss,
                "lr": lr,
                "grad_norm": grad_norm.item(),
                "tokens_per_s": round(tokens_per_s, 1),
                "mfu": None if peak is None else flops_per_token * tokens_per_s / (peak * runtime.world_size),
                "seconds": round(seconds, 4),
            }
            log.write(row)
            print(
                f"step {step:6d} | loss {train_loss:.6f}"
                + ("" if val_loss is None else f" | val {val_loss:.4f}")
                + f" | lr {lr:.3e} | norm {row['grad_norm']:.3f} | {tokens_per_s:,.0f} tok/s"
                + ("" if row["mfu"] is None else f" | mfu {100 * row['mfu']:.1f}%"),
                flush=True,
            )
        if (
            config.checkpoint_interval and (step + 1) % config.checkpoint_interval == 0
        ) or step + 1 == end_step:
            save(step + 1)
    summary = {
        "start_step": start_step,
        "end_step": end_step,
        "losses": losses,
        "accumulation_steps": accumulation,
        "world_size": runtime.world_size,
        "tokens": tokens_per_step * len(losses),
        "seconds": round(time.perf_counter() - started, 3),
        "checkpoint": str(checkpoint_path),
        "skipped_shards": loader.skipped,
    }
    if runtime.master and log.rows:
        _plot(log.rows, out_dir / "loss.png")
        summary["plot"] = str(out_dir / "loss.png")
    return summary
