"""The explorer's model side: what the page asks, answered by one GPT under a lock.

Next-token tables keep the last request's ids and KVCache: a sentence that grows by a clicked token runs
only the new token through the model, not the whole sentence again.
"""

from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F

from bpe import ENDOFTEXT
from model.gpt import GPT, cut_logits
from model.sample import iter_sample_ids

MAX_TEXT_CHARS = 100_000  # a request's text; what is left past block_size tokens is cut from the left
MAX_TOP_K = 100  # options listed
MAX_NEW_TOKENS = 256  # tokens one "Continue" samples
GLTR_ALTERNATIVES = 5  # the alternatives a scored token shows on hover


class RequestError(ValueError):
    """A request the explorer refuses (answered 4xx with this message)."""


class Explorer:
    """One model and its vocabulary behind the explorer's API; safe to call from many threads."""

    def __init__(self, model: GPT, encoding, description: dict) -> None:
        if model.training:
            raise ValueError("the model is in training mode: call model.eval() first")
        self.model = model
        self.encoding = encoding
        self.description = description
        self._lock = threading.Lock()
        self._ids: list[int] = []  # what self._cache holds; self._logits: the logits after its last id
        self._cache = model.new_cache()
        self._logits: torch.Tensor | None = None

    def info(self) -> dict:
        config = self.model.config
        return {
            **self.description,
            "n_layer": config.n_layer,
            "n_head": config.n_head,
            "n_embd": config.n_embd,
            "block_size": config.block_size,
            "vocab_size": config.vocab_size,
            "parameters": self.model.num_params(non_embedding=False),
            "limits": {"text_chars": MAX_TEXT_CHARS, "top_k": MAX_TOP_K, "max_tokens": MAX_NEW_TOKENS},
        }

    def next(
        self, text: str, k: int = 10, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
    ) -> dict:
        """The k likeliest next tokens after text with their probabilities before and after the knobs
        (temperature, then top_k, then top_p: `GPT.generate`'s order), and the mass the knobs cut off."""
        ids, truncated = self._context(text)
        with self._lock:
            logits = self._last_logits(ids)
        raw = F.softmax(logits.float(), dim=-1)
        knobbed = F.softmax(
            cut_logits(logits / temperature, top_k or None, top_p if top_p < 1 else None).float(), dim=-1
        )
        top = torch.topk(knobbed, min(k, knobbed.numel()))
        options = [
            {"id": i, "token": self._token(i), "p": p, "p_model": raw[i].item()}
            for i, p in zip(top.indices.tolist(), top.values.tolist())
            if p > 0
        ]
        kept = knobbed > 0
        return {
            "options": options,
            "cut_mass": raw[~kept].sum().item(),
            "kept_tokens": int(kept.sum()),
            "tokens": len(ids),
            "truncated": truncated,
        }

    def score(self, text: str) -> dict:
        """Every token of text with its probability and rank under the model and its likeliest
        alternatives (GLTR), the first one conditioned on <|endoftext|>; the text's loss and perplexity."""
        ids, truncated = self._context(text, empty_ok=True)
        eot = self._eot()
        if eot is not None and ids[:1] != [eot]:
            ids = [eot, *ids][-self.model.config.block_size :]
        if len(ids) < 2:
            return {"tokens": [], "loss": None, "perplexity": None, "truncated": truncated}
        context = ids
        with self._lock:
            cache = self.model.new_cache()
            logprobs = self.model.forward_cached(torch.tensor([context], device=self._device()), cache)
        logprobs = logprobs[0, :-1].float().log_softmax(dim=-1).cpu()
        targets = torch.tensor(context[1:])
        chosen = logprobs.gather(1, targets[:, None])[:, 0]
        ranks = (logprobs > chosen[:, None]).sum(dim=1) + 1
        top = torch.topk(logprobs, min(GLTR_ALTERNATIVES, logprobs.shape[1]))
        tokens = [
            {
                "id": target,
                "token": self._token(target),
                "p": math.exp(lp),
                "rank": rank,
                "top": [{"token": self._token(i), "p": math.exp(v)} for i, v in zip(alt_ids, alt_lps)],
            }
            for target, lp, rank, alt_ids, alt_lps in zip(
                targets.tolist(), chosen.tolist(), ranks.tolist(), top.indices.tolist(), top.values.tolist()
            )
        ]
        loss = -chosen.mean().item()
        return {
            "tokens": tokens,
            "loss": loss,
            "perplexity": math.exp(loss),
            "truncated": truncated,
        }

    def generate(
        self,
        text: str,
        max_tokens: int,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> dict:
        """Up to max_tokens tokens sampled after text by `model.sample.iter_sample_ids`, stopping at
        <|endoftext|>; the same seed, the same tokens."""
        ids, truncated = self._context(text)
        generator = torch.Generator(device=self._device())
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        with self._lock:
            sampled = list(
                iter_sample_ids(
                    self.model,
                    ids,
                    max_tokens,
                    temperature=temperature,
                    top_k=top_k or None,
                    top_p=top_p if top_p < 1 else None,
                    generator=generator,
                    stop=self._eot(),
                )
            )
        return {"tokens": [{"id": i, "token": self._token(i)} for i in sampled], "truncated": truncated}

    def _last_logits(self, ids: list[int]) -> torch.Tensor:
        """The logits after ids, running only the ids past their common prefix with the last request's."""
        if ids == self._ids and self._logits is not None:
            return self._logits
        common = 0
        for old, new in zip(self._ids, ids):
            if old != new:
                break
            common += 1
        common = min(common, len(ids) - 1)  # at least one token to run: its logits are the answer
        self._cache.crop(common)
        self._ids = ids[:common]
        new = torch.tensor([ids[common:]], device=self._device())
        self._logits = self.model.forward_cached(new, self._cache)[0, -1]
        self._ids = ids
        return self._logits

    def _context(self, text: str, empty_ok: bool = False) -> tuple[list[int], bool]:
        """text's ids, the last block_size of them (and whether any were cut); <|endoftext|> alone for an
        empty text (the start of a document), or [] where empty_ok."""
        ids = self.encoding.encode(text, allowed_special="all")
        if not ids and not empty_ok:
            if self._eot() is None:
                raise RequestError("empty text, and the vocabulary has no <|endoftext|> to start from")
            ids = [self._eot()]
        block_size = self.model.config.block_size
        return ids[-block_size:], len(ids) > block_size

    def _token(self, token: int) -> str:
        return self.encoding.decode_single_token_bytes(token).decode("utf-8", errors="replace")

    def _eot(self) -> int | None:
        return self.encoding.special_tokens.get(ENDOFTEXT)

    def _device(self) -> torch.device:
        return self.model.wte.weight.device
