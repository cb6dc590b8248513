"""GPT-2 as one small PyTorch module, nanoGPT-style.

The architecture is GPT-2's exactly (pre-LN blocks, learned positions, tanh-GELU, tied embeddings, biases)
so that OpenAI's weights load and give the same logits. Module names follow HF's `GPT2LMHeadModel` minus
its `transformer.` prefix, which keeps the weight conversion in `model/hf.py` a near identity.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.fused_loss import linear_cross_entropy

# (n_layer, n_head, n_embd) of the four GPT-2 sizes in the paper.
PRESETS = {
    "124M": (12, 12, 768),
    "355M": (24, 16, 1024),
    "774M": (36, 20, 1280),
    "1558M": (48, 25, 1600),
}
VOCAB_MULTIPLE = 128  # 50257 -> 50304: matmuls on a multiple of 128 run on the fast tensor-core paths


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    n_head: int
    n_embd: int
    vocab_size: int = 50257
    block_size: int = 1024
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")

    @property
    def padded_vocab_size(self) -> int:
        """The embedding's row count; rows past vocab_size are never predicted (logits are cropped)."""
        return -(-self.vocab_size // VOCAB_MULTIPLE) * VOCAB_MULTIPLE

    @classmethod
    def preset(cls, name: str, **overrides: object) -> GPTConfig:
        """One of PRESETS ("124M", "355M", "774M", "1558M"), with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        n_layer, n_head, n_embd = PRESETS[name]
        return cls(**{"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, **overrides})


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, past: LayerCache | None = None) -> torch.Tensor:
        """Attention of x's positions over themselves, or with `past` over the cached positions before them too
        (x's keys and values are written into it)."""
        batch, time, channels = x.shape
        q, k, v = (
            t.view(batch, time, self.n_head, channels // self.n_head).transpose(1, 2)
            for t in self.c_attn(x).split(channels, dim=2)
        )
        mask = None
        if past is not None:
            k, v, mask = past.extend(k, v)
        # SDPA's is_causal aligns the queries to the first keys: right only when they cover every key.
        is_causal = mask is None and time == k.shape[2]
        dropout_p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal)
        y = y.transpose(1, 2).contiguous().view(batch, time, channels)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, past: LayerCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), past)
        return x + self.mlp(self.ln_2(x))


class LayerCache:
    """One layer's view of a KVCache: its key and value buffers [B, n_head, block_size, head_dim] and the
    number of positions already in them."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        self.keys, self.values, self.length = keys, values, length

    def extend(
        self, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """All keys and values up to and including k's and v's (written after the cached ones), and the
        causal mask for their queries where one is needed: None with no past (is_causal does) or for a single
        query (it sees every key); else query t, at position length + t, sees keys 0..length + t."""
        start, time = self.length, k.shape[2]
        end = start + time
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        keys, values = self.keys[:, :, :end], self.values[:, :, :end]
        if start == 0 or time == 1:
            return keys, values, None
        positions = torch.arange(end, device=k.device)
        return keys, values, positions[None, :] <= positions[start:, None]


class KVCache:
    """The keys and values every layer computed for the tokens processed so far, for a batch: decoding a
    token then costs one position's forward instead of the whole context's.

    Buffers for block_size positions are allocated once (no torch.cat per token); `len` is the number of
    positions filled. Made by `GPT.new_cache`, filled by `GPT.forward_cached`.
    """

    def __init__(self, config: GPTConfig, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        head_dim = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, head_dim)
        self.keys = torch.empty(shape, device=device, dtype=dtype)
        self.values = torch.empty(shape, device=device, dtype=dtype)
        self.length = 0

    def __len__(self) -> int:
        return self.length

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def crop(self, length: int) -> None:
        """Keeps the first `length` positions: a prompt sharing them with the cached one goes on from there."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot crop a cache of {self.length} tokens to {length}")
        self.length = length

    def layer(self, index: int) -> LayerCache:
        return LayerCache(self.keys[index], self.values[index], self.length)


class GPT(nn.Module):
    fused_loss: bool = False
    """Whether forward with targets runs the output head and the loss as one fused function
    (`model/fused_loss.py`): less memory traffic in eager fp32 on a CPU; set by `model.parallel.parallelize`.
    Off, the head's logits go to F.cross_entropy, which suits GPUs, autocast and torch.compile."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.padded_vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.padded_vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        # GPT-2's scaling: each block adds two residual contributions, so their sum keeps unit variance.
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        for block in self.h:
            nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=residual_std)
        with torch.no_grad():
            self.wte.weight[config.vocab_size :].zero_()

    @classmethod
    def from_state_dict(cls, config: GPTConfig, state: dict[str, torch.Tensor]) -> GPT:
        """A GPT holding `state` (named as its own state_dict; lm_head.weight may be left out, it is tied),
        built without initialising weights it would throw away: seconds and 6 GB for the 1.5B model."""
        with torch.device("meta"):
            model = cls(config)
        model.load_state_dict({**state, "lm_head.weight": state["wte.weight"]}, assign=True)
        model.lm_head.weight = model.wte.weight  # assign=True replaced wte's parameter: tie again
        return model

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        # nn.LayerNorm already starts at ones/zeros.

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(logits over vocab_size for every position, None), or with targets (None, the mean cross-entropy
        with -1 targets ignored): training never reads the logits, and not keeping them saves their memory."""
        x = self.hidden_states(idx)
        if targets is None:
            return self.logits(x), None
        if self.fused_loss:
            loss = linear_cross_entropy(
                x.flatten(0, 1), self.lm_head.weight, targets.flatten(), self.config.vocab_size
            )
            return None, loss
        return None, F.cross_entropy(self.logits(x).flatten(0, 1), targets.flatten(), ignore_index=-1)

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The final LayerNorm's output for every position: what the output head reads.

        Scoring a few positions of a long context (LAMBADA's last word) takes these and runs `logits` on
        the positions it needs only; the head is a third of GPT-2 small's work per token.
        """
        time = idx.shape[1]
        if time > self.config.block_size:
            raise ValueError(f"sequence of {time} tokens is longer than block_size {self.config.block_size}")
        pos = torch.arange(time, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over vocab_size from hidden states (..., n_embd)."""
        vocab = self.config.vocab_size
        # Padded rows make a GPU-friendly matmul whose extra logits are dropped; on a CPU that crop would
        # copy the logits (and their gradient), so the padded rows are skipped instead.
        if hidden.is_cuda:
            return self.lm_head(hidden)[..., :vocab]
        return F.linear(hidden, self.lm_head.weight[:vocab])

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters counted as the paper does: tied embeddings once, padded rows not at all.

        non_embedding leaves out the position table, which costs no matmul; the token table stays in
        because it is also the output projection.
        """
        total = sum(p.numel() for p in self.parameters())
        total -= (self.config.padded_vocab_size - self.config.vocab_size) * self.config.n_embd
        if non_embedding:
            total -= self.wpe.weight.numel()
        return total

    def estimate_flops_per_token(self) -> int:
        """Training FLOPs per token (forward + backward), PaLM appendix B: 6N + 12·L·H·Q·T."""
        cfg = self.config
        head_dim = cfg.n_embd // cfg.n_head
        return 6 * self.num_params() + 12 * cfg.n_layer * cfg.n_head * head_dim * cfg.block_size

    def configure_optimizers(
        self, weight_decay: float, lr: float, betas: tuple[float, float], device_type: str
    ) -> torch.optim.AdamW:
        """AdamW decaying only matrices and embeddings: decaying biases and LayerNorm gains only hurts."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        fused = device_type == "cuda"
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused, foreach=not fused)

    def new_cache(self, batch_size: int = 1) -> KVCache:
        """An empty KVCache for `forward_cached`, on the model's device and in its dtype."""
        weight = self.wte.weight
        return KVCache(self.config, batch_size, weight.device, weight.dtype)

    @torch.no_grad()
    def forward_cached(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits over vocab_size [B, T, vocab_size] for idx [B, T], the tokens that follow those in cache:
        only they are run (at positions len(cache)...), and their keys and values join the cache."""
        return self.logits(self._hidden_cached(idx, cache))

    def _hidden_cached(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        batch, time = idx.shape
        start = len(cache)
        if start + time > cache.capacity:
            raise ValueError(
                f"{time} new tokens after {start} cached ones exceed block_size {cache.capacity}; "
                "crop the cache or start a new one"
            )
        if batch != cache.batch_size:
            raise ValueError(f"a batch of {batch} sequences for a cache of {cache.batch_size}")
        pos = torch.arange(start, start + time, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for index, block in enumerate(self.h):
            x = block(x, cache.layer(index))
        cache.length = start + time
        return self.ln_f(x)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """idx extended by max_new_tokens sampled tokens, decoded with a KVCache (see `iter_generate`)."""
        tokens = self.iter_generate(idx, temperature, top_k, top_p, generator)
        return torch.cat([idx, *(next(tokens) for _ in range(max_new_tokens))], dim=1)

    def iter_generate(
        self,
        idx: torch.Tensor,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[torch.Tensor]:
        """The sampled next tokens [B, 1] after idx [B, T], one per `next`, without end.

        Each token is conditioned on the last block_size tokens (prompt and sampled), as cropping the context
        every step would, and decoded with a KVCache: up to block_size tokens a step runs one position. Past
        it the window slides by one token a step, and since positions are learned absolute embeddings every
        cached key changes when it moves: the window is run again whole, a cache-less step's cost. A prompt
        longer than block_size starts from its last block_size tokens.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature} (use top_k=1 for greedy)")
        return self._decode(idx, temperature, top_k, top_p, generator)

    @torch.no_grad()
    def _decode(
        self,
        idx: torch.Tensor,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        generator: torch.Generator | None,
    ) -> Iterator[torch.Tensor]:
        block_size = self.config.block_size
        cache = self.new_cache(idx.shape[0])
        window = pending = idx[:, -block_size:]  # the tokens conditioned on; those of them not in the cache
        while True:
            logits = self.logits(self._hidden_cached(pending, cache)[:, -1]) / temperature
            pending = _sample(logits, top_k, top_p, generator)
            yield pending
            window = torch.cat([window, pending], dim=1)[:, -block_size:]
            if len(cache) == block_size:  # the window moves: all of it runs again
                cache.crop(0)
                pending = window


def _sample(
    logits: torch.Tensor, top_k: int | None, top_p: float | None, generator: torch.Generator | None
) -> torch.Tensor:
    """One token [B, 1] drawn from softmax(logits [B, vocab]) after the top_k and top_p cuts."""
    return torch.multinomial(F.softmax(cut_logits(logits, top_k, top_p), dim=-1), 1, generator=generator)


def cut_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """logits [..., vocab] with the tokens outside the top_k, then outside the nucleus top_p, masked to -inf
    (None: no cut); what sampling draws from, and what the explorer lists."""
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[..., [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        logits = _nucleus(logits, top_p)
    return logits


def _nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Logits with all but the smallest set of tokens whose probability reaches top_p masked out."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = F.softmax(sorted_logits, dim=-1)
    # A token goes when the tokens before it already reach top_p, so the most likely one always stays.
    drop = probs.cumsum(dim=-1) - probs >= top_p
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.empty_like(logits).scatter_(-1, order, sorted_logits)
