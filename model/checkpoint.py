"""The training checkpoint: one `torch.save` file that `generate` and `train --resume` both read.

The file is a dict of tensors and plain Python values only, so `torch.load(weights_only=True)` opens it
without running any pickled code:

    config        dataclasses.asdict(GPTConfig)
    model         the bare GPT's state_dict (no DDP `module.` or torch.compile `_orig_mod.` prefixes)
    optimizer     the optimizer's full state keyed by parameter name (torch.distributed.checkpoint's
                  get_optimizer_state_dict), the same with or without FSDP
    step          optimizer steps taken
    train_config  the TrainConfig as a dict (its `vocab`: the vocabulary's record, from tokenize.json)
    loaders       one TokenLoader.state_dict() per rank
    rng           one `rng_state()` per rank

It is written under a temporary name beside the final one and renamed into place, so a run killed while
saving leaves the previous checkpoint whole and never one that is half written.
"""

from __future__ import annotations

import errno
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from model.files import write_atomically
from model.gpt import GPT, GPTConfig

KEYS = ("config", "model", "optimizer", "step", "train_config", "loaders", "rng")


class CheckpointError(ValueError):
    """A file that is not a whole checkpoint of this format."""


def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Writes `checkpoint` (a dict with exactly KEYS) to `path` atomically; a write that fails (a full disk)
    raises OSError naming `path`."""
    if set(checkpoint) != set(KEYS):
        raise CheckpointError(f"a checkpoint has the keys {', '.join(KEYS)}; got {', '.join(checkpoint)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(path, lambda stream: torch.save(checkpoint, stream))
    except (OSError, RuntimeError) as error:
        # torch's zip writer turns a failed write into RuntimeError("... unexpected pos ..."), the
        # OSError (ENOSPC, EFBIG) being its context; the temporary file's name would mean nothing to a user.
        cause = error if isinstance(error, OSError) else error.__context__
        if not isinstance(cause, OSError):
            raise
        raise OSError(cause.errno, cause.strerror, str(path)) from error


def check_writable(directory: str | os.PathLike) -> Path:
    """Creates `directory` and writes, syncs and removes a file in it, so that a directory that cannot take
    a file (read-only, full, under a regular file) fails now, with OSError naming it, not after the work."""
    directory = Path(directory)
    blocker = next((path for path in (directory, *directory.parents) if path.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory (a file is there)", str(blocker))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test.") as probe:
            probe.write(b"\0")  # one byte takes a block: on a full disk, fsync fails
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise OSError(error.errno, f"cannot write there: {error.strerror}", str(directory)) from None
    return directory


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint at `path`, on the CPU; CheckpointError when it is missing a part or is not one."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no checkpoint there")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError... for a bad file
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or corrupt?): {error}"
        ) from error
    if not isinstance(checkpoint, dict) or set(checkpoint) != set(KEYS):
        found = ", ".join(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(
            f"{path}: not a training checkpoint (expected keys {', '.join(KEYS)}; got {found})"
        )
    return checkpoint


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> GPT:
    """The trained GPT from a checkpoint, in eval mode on `device`."""
    return load_model_and_vocab(path, device)[0]


def load_model_and_vocab(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[GPT, dict | None]:
    """The trained GPT, and the record of the vocabulary it was trained with (None in older checkpoints)."""
    checkpoint = load_checkpoint(path)
    model = GPT.from_state_dict(GPTConfig(**checkpoint["config"]), checkpoint["model"])
    return model.to(device).eval(), checkpoint["train_config"].get("vocab")


def checkpoint_step(path: str | os.PathLike) -> int:
    """The training steps a checkpoint holds, read through a memory map (the weights are not loaded)."""
    return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["step"])


def rng_state() -> dict:
    """Every generator a training step may draw from, as tensors and plain values."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": position,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["gauss"],
        )
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
