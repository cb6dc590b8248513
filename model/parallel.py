"""How a GPT runs in training, applied from outside: kernels, torch.compile, DDP or FSDP.

torchtitan's habit: the model is plain single-device PyTorch and the training loop is one loop; everything
about *how* they run is one function, `parallelize`, that takes the model as built and hands back what the
loop calls. Neither `model/gpt.py` nor the loop in `model/train.py` says DDP, FSDP or compile, so each
reads as the recipe it is, and a new way to run (tensor parallel, activation checkpointing) is a change
here only.

Under torchrun the model is replicated (DDP) by default; `fsdp` shards parameters, gradients and AdamW's
moments over the ranks instead (FSDP2, `fully_shard` per block), which the 774M and 1.5B models need on
smaller GPUs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from model.gpt import GPT

if TYPE_CHECKING:  # model.train imports this module
    from model.train import Runtime, TrainConfig


@dataclass(frozen=True)
class Parallelized:
    """What the training loop needs of a parallelized model."""

    module: nn.Module
    """What the loop calls for losses: the model itself, compiled, and/or wrapped in DDP."""
    skip_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    """A context in which backward keeps gradients local instead of reducing them over the ranks."""

    def sync_gradients(self, sync: bool) -> contextlib.AbstractContextManager:
        """Around a micro step's forward *and* backward: gradients are reduced over the ranks only when
        `sync` (the last micro batch of a step), not after every backward. One call for DDP and FSDP alike;
        with one process there is nothing to reduce and it does nothing."""
        return contextlib.nullcontext() if sync else self.skip_sync()


def parallelize(model: GPT, runtime: Runtime, config: TrainConfig) -> Parallelized:
    """Readies `model` for training as `runtime` and `config` say; call it before building the optimizer.

    FSDP shards `model` in place (its parameters become DTensor shards, which the optimizer must hold), so
    keep using `model` itself for state dicts and the optimizer, and `.module` for forward and backward.
    """
    model.fused_loss = _fused_loss(runtime, config)
    if config.fsdp:
        _shard(model, runtime)
    compiled = torch.compile(model) if config.compile else model
    if runtime.world_size == 1:
        return Parallelized(compiled)
    if config.fsdp:
        return Parallelized(compiled, lambda: _fsdp_no_sync(model))
    device_ids = [runtime.local_rank] if runtime.device.type == "cuda" else None
    replicated = DistributedDataParallel(compiled, device_ids=device_ids)
    return Parallelized(replicated, replicated.no_sync)


def _fused_loss(runtime: Runtime, config: TrainConfig) -> bool:
    """Whether the fused output head + loss (`model/fused_loss.py`) runs: it pays in eager fp32 off the GPU,
    where memory traffic dominates. GPUs have the bandwidth, bf16 autocast wants the plain ops, and under
    torch.compile inductor fuses the plain path itself."""
    return runtime.device.type != "cuda" and runtime.dtype == torch.float32 and not config.compile


@torch.no_grad()
def _shard(model: GPT, runtime: Runtime) -> None:
    """FSDP2: each block is one unit (gathered just before it runs, freed after); embeddings, the final
    LayerNorm and the tied head form the root unit. Every rank built the same full model from the same
    seed, so sharding it gives the weights an unsharded run starts from."""
    mesh = init_device_mesh(runtime.device.type, (runtime.world_size,))
    for block in model.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)


@contextlib.contextmanager
def _fsdp_no_sync(model: nn.Module):
    """FSDP2's counterpart of DDP's no_sync: a setting read by backward, so it must span the backward."""
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_, returning the total norm as a plain tensor: under FSDP it is a
    DTensor (the norm over all shards, replicated), which .item() and logging don't take."""
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return norm.full_tensor() if isinstance(norm, DTensor) else norm
