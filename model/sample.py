"""Scoring and sampling with a trained GPT: next-token tables, continuation log-probabilities, samples.

The scoring functions work on token ids and return fp32 log-probabilities; they come from
`model.scoring`, which the evaluation harness (`webtext eval`) batches. The text-level functions on top add
the tokenizer. They expect the model in eval mode (dropout off), as the loaders return it. An empty prompt
is conditioned on <|endoftext|>, as GPT-2's unconditional samples were.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence

import torch

from bpe import ENDOFTEXT
from model.gpt import GPT
from model.scoring import next_token_logprobs, token_scores


def continuation_logprobs(model: GPT, context: Sequence[int], continuation: Sequence[int]) -> torch.Tensor:
    """log p(continuation[i] | context, continuation[:i]) for every i, in fp32 on the CPU, in one forward pass.

    The oldest context tokens are dropped when both don't fit in block_size; neither may be empty. The
    evaluation harness scores through the same code (`model.scoring.token_scores`), batched.
    """
    if not context or not continuation:
        raise ValueError("context and continuation must not be empty (condition on <|endoftext|> at least)")
    ((_, logprobs, _),) = token_scores(model, [(context, continuation)])
    return logprobs


def next_token_table(model: GPT, enc, prompt: str, k: int = 10) -> list[tuple[str, float]]:
    """The k likeliest next tokens after prompt, decoded, with their probabilities (the paper's slides)."""
    probs = next_token_logprobs(model, _context(enc, prompt)).exp()
    top = torch.topk(probs, min(k, probs.numel()))
    return [(enc.decode([i]), p) for i, p in zip(top.indices.tolist(), top.values.tolist())]


def sample_ids(model: GPT, context: Sequence[int], max_tokens: int, **knobs) -> list[int]:
    """Up to max_tokens sampled ids after context, ending early after the first `stop` id (not returned);
    knobs: `iter_sample_ids`'s (temperature, top_k, top_p, generator, stop)."""
    return list(iter_sample_ids(model, context, max_tokens, **knobs))


def iter_sample_ids(
    model: GPT,
    context: Sequence[int],
    max_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    stop: int | None = None,
) -> Iterator[int]:
    """Sampled ids after context one at a time, as each is drawn, ending before the first `stop` id.

    One `GPT.iter_generate` stream, so one KVCache for all the tokens and stopping is free; the generator
    is drawn from exactly as `GPT.generate` would draw from it.
    """
    idx = torch.tensor([list(context)], device=model.wte.weight.device)
    tokens = model.iter_generate(idx, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
    for _ in range(max_tokens):
        token = next(tokens).item()
        if token == stop:
            return
        yield token


def sample_text(
    model: GPT,
    enc,
    prompt: str,
    max_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = 40,
    top_p: float | None = None,
    seed: int | None = None,
) -> str:
    """A continuation of prompt (without the prompt), stopped at <|endoftext|>; the same seed, the same text."""
    return "".join(stream_text(model, enc, prompt, max_tokens, temperature, top_k, top_p, seed))


def stream_text(
    model: GPT,
    enc,
    prompt: str,
    max_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = 40,
    top_p: float | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """`sample_text` in pieces as the tokens come, so that a long sample shows (and an interrupted one
    keeps) what is done. A character split across tokens waits for its last byte; the pieces join to
    exactly `enc.decode` of the ids."""
    generator = torch.Generator(device=model.wte.weight.device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    ids = iter_sample_ids(
        model,
        _context(enc, prompt),
        max_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=generator,
        stop=_eot(enc),
    )
    for token in ids:
        piece = decoder.decode(enc.decode_single_token_bytes(token))
        if piece:
            yield piece
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _eot(enc) -> int | None:
    return enc.special_tokens.get(ENDOFTEXT)


def _context(enc, prompt: str) -> list[int]:
    """The prompt's ids; <|endoftext|> alone for an empty prompt, as the start of a document."""
    ids = enc.encode(prompt, allowed_special="all")
    if ids:
        return ids
    if _eot(enc) is None:
        raise ValueError("empty prompt, and the vocabulary has no <|endoftext|> to start from")
    return [_eot(enc)]
