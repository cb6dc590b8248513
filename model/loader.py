"""Batches from llm.c token shards, the way nanoGPT and llm.c read them.

The shards are one token stream cut into files. Each step the ranks together consume one window of
world_size·B·T tokens (+1 for the last target); rank r takes the r-th B·T slice of it, so the ranks read
disjoint, adjacent tokens and world_size ranks see exactly what one rank accumulating world_size micro
batches would. A shard too short for one window is skipped (`skipped`), and a shard's rest too short for a
whole window is left for the next one; after the last shard the stream starts over. The position is two
integers, so a resumed run reads on exactly where the interrupted one stopped.

Given the model's vocab_size, each shard is checked when it is loaded to hold no id past it (one vectorised
max over the memory map: ~7 ms per 100M tokens in the page cache, a read the training does anyway), since
such an id would index past the embedding, or silently into its padded rows.
"""

from __future__ import annotations

import glob

import numpy as np
import torch

from model.tokens import load_shard, read_header


class TokenLoaderError(ValueError):
    """Shards that cannot feed the requested batches, or a saved state that does not fit them."""


class TokenLoader:
    def __init__(
        self,
        pattern: str,
        batch_size: int,
        seq_len: int,
        rank: int = 0,
        world_size: int = 1,
        vocab_size: int | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise TokenLoaderError(f"rank {rank} is outside 0..{world_size - 1}")
        self.paths = sorted(glob.glob(pattern))
        if not self.paths:
            raise TokenLoaderError(f"no token shards match {pattern!r}")
        self.batch_size, self.seq_len, self.rank, self.world_size = batch_size, seq_len, rank, world_size
        self.vocab_size = vocab_size
        self.window = world_size * batch_size * seq_len + 1
        # The last shard of a split is usually short; one too short for a single window is skipped.
        counts = {path: read_header(path) for path in self.paths}
        self.skipped = [path for path in self.paths if counts[path] < self.window]
        self.paths = [path for path in self.paths if counts[path] >= self.window]
        if not self.paths:
            raise TokenLoaderError(
                f"every shard matching {pattern!r} has fewer tokens than one window of {self.window:,} "
                f"(world_size {world_size} × batch {batch_size} × seq_len {seq_len} + 1)"
            )
        self._load(0, rank * batch_size * seq_len)

    def _load(self, shard: int, position: int) -> None:
        self.shard, self.position = shard, position
        self.tokens = load_shard(self.paths[shard])
        # A loaded shard holds at least one window (shorter ones are skipped), so max() has tokens to see.
        if self.vocab_size is not None and (largest := int(self.tokens.max())) >= self.vocab_size:
            raise TokenLoaderError(
                f"{self.paths[shard]}: token id {largest:,} is past the model's vocabulary of "
                f"{self.vocab_size:,} tokens (ids 0..{self.vocab_size - 1:,}): shards of another vocabulary?"
            )

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-token targets, both (batch_size, seq_len) int64."""
        size = self.batch_size * self.seq_len
        chunk = torch.from_numpy(self.tokens[self.position : self.position + size + 1].astype(np.int64))
        x, y = chunk[:-1].view(self.batch_size, self.seq_len), chunk[1:].view(self.batch_size, self.seq_len)
        self.position += self.world_size * size
        if self.position - self.rank * size + self.window > len(self.tokens):
            self._load((self.shard + 1) % len(self.paths), self.rank * size)
        return x, y

    def state_dict(self) -> dict[str, int]:
        return {"shard": self.shard, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        shard, position = int(state["shard"]), int(state["position"])
        if not 0 <= shard < len(self.paths):
            raise TokenLoaderError(f"saved shard index {shard} but only {len(self.paths)} shard(s) match now")
        self._load(shard, position)
        if position + self.batch_size * self.seq_len + 1 > len(self.tokens):
            raise TokenLoaderError(
                f"saved position {position:,} is past the end of {self.paths[shard]} ({len(self.tokens):,} tokens)"
            )
