"""Eval scoring throughput: model.scoring.score vs lm-evaluation-harness's way with transformers, one run.

The requests are LAMBADA-like: a passage of README.md (GPT-2 BPE) cut before a word of 1-3 tokens, which
is the continuation. The anchor is transformers' GPT2LMHeadModel (same weights, sdpa attention, eval mode,
no_grad) driven as lm-evaluation-harness's HFLM drives it: requests sorted longest first, batches padded
on the right, log_softmax over every position of the batch, then the continuation's positions gathered,
summed and checked against the argmax. The same loop with one request per batch is lm-eval's default
batch size and the naive reference. Ours must give the same logprobs (1e-4) and greedy flags first.
Most of our lead is running the output head on the continuation's positions only (the head is most of a
small model's work at a 50k vocabulary; about a third of GPT-2 small's, try --layers 12 --embd 768
--heads 12). Usage:

    python bench/eval.py [--layers 4] [--embd 256] [--heads 4] [--block 256] [--requests 256] [--batch 32]
                         [--repeats 2] [--vocab gpt2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def lambada_like(ids: list[int], starts_word: np.ndarray, count: int, seed: int) -> list[tuple]:
    """count (context, continuation) pairs: 60-120 tokens of text, then the next word of 1-3 tokens.

    An untrained GPT-2 with tied embeddings often predicts its input token again, so every fourth
    continuation repeats the context's last token: the greedy flags then hold both values to compare.
    """
    words = np.flatnonzero(starts_word)
    ends = np.append(words[1:], len(ids))
    candidates = [(s, e) for s, e in zip(words, ends, strict=True) if s >= 120 and 1 <= e - s <= 3]
    rng = np.random.default_rng(seed)
    tokens = np.asarray(ids, dtype=np.int64)
    requests = []
    for n, pick in enumerate(rng.choice(len(candidates), count)):
        start, end = candidates[pick]
        context = tokens[start - rng.integers(60, 121) : start]
        requests.append((context, context[-1:] if n % 4 == 3 else tokens[start:end]))
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--embd", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32, help="Requests per batch (webtext eval's default).")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--vocab", default="gpt2", help="a packaged encoding or a vocabulary directory")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import torch
    import torch.nn.functional as F
    import transformers

    import bpe
    from model.gpt import GPT, GPTConfig
    from model.hf import save_hf
    from model.scoring import score

    enc = bpe.resolve(args.vocab)
    ids = enc.encode_ordinary((REPO / "README.md").read_text(encoding="utf-8"))
    starts_word = np.array([enc.decode([t]).startswith(" ") for t in ids])
    requests = lambada_like(ids, starts_word, args.requests, seed=0)
    tokens = sum(len(context) + len(continuation) - 1 for context, continuation in requests)

    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    config = GPTConfig(n_layer=args.layers, n_head=args.heads, n_embd=args.embd, block_size=args.block)
    ours = GPT(config).eval()
    with tempfile.TemporaryDirectory() as directory:
        save_hf(ours, directory)
        theirs = transformers.GPT2LMHeadModel.from_pretrained(directory, attn_implementation="sdpa").eval()

    @torch.no_grad()
    def hflm(requests: list[tuple], batch_size: int) -> list[tuple[float, bool]]:
        """lm-evaluation-harness's HFLM._loglikelihood_tokens for a causal model, without its caching."""
        rows = [torch.from_numpy(np.concatenate(r)[-(args.block + 1) :][:-1]) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: -len(rows[i]))
        results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            inputs = torch.zeros(len(batch), len(rows[batch[0]]), dtype=torch.long)
            for b, i in enumerate(batch):
                inputs[b, : len(rows[i])] = rows[i]
            logprobs = F.log_softmax(theirs(inputs).logits, dim=-1)
            for b, i in enumerate(batch):
                continuation = torch.from_numpy(requests[i][1])
                chosen = logprobs[b, len(rows[i]) - len(continuation) : len(rows[i])]
                greedy = bool((chosen.argmax(dim=-1) == continuation).all())
                results[i] = (float(chosen.gather(-1, continuation[:, None]).sum()), greedy)
        return results

    contenders = {
        "transformers, HFLM loop, batched": lambda: hflm(requests, args.batch),
        "transformers, HFLM loop, batch 1": lambda: hflm(requests, 1),
        "ours, model.scoring.score": lambda: [
            (s.logprob, s.greedy) for s in score(ours, requests, batch_size=args.batch)
        ],
    }

    def timed(function) -> tuple[float, list[tuple[float, bool]]]:
        started = time.perf_counter()
        result = function()
        return time.perf_counter() - started, result

    # The first turn warms every contender up and checks that all of them do the same work.
    first = {name: timed(function) for name, function in contenders.items()}
    anchor = first["transformers, HFLM loop, batched"][1]
    for name, (_, results) in first.items():
        worst = max(abs(a[0] - b[0]) for a, b in zip(results, anchor, strict=True))
        if worst > 1e-4 or [r[1] for r in results] != [a[1] for a in anchor]:
            raise SystemExit(
                f"{name}: scores differ from the batched HFLM loop's (logprob by up to {worst:.2g})"
            )
    print(
        f"config: {args.layers} layers, {args.embd} wide, {args.heads} heads, block {args.block}; "
        f"{len(requests)} requests, {tokens} tokens, batch {args.batch}; {torch.get_num_threads()} threads; "
        f"torch {torch.__version__}, transformers {transformers.__version__}; same logprobs (1e-4) and "
        f"greedy flags ({sum(a[1] for a in anchor)} true) in all"
    )

    # The machine's speed drifts within minutes, so contenders take turns and each keeps its best turn.
    seconds = dict.fromkeys(contenders, float("inf"))
    for repeat in range(args.repeats):
        turns = {name: timed(function)[0] for name, function in contenders.items()}
        seconds = {name: min(seconds[name], turns[name]) for name in contenders}
        print(
            f"  run {repeat + 1}/{args.repeats}: " + ", ".join(f"{t:.2f} s" for t in turns.values()),
            flush=True,
        )

    batched, single = seconds["transformers, HFLM loop, batched"], seconds["transformers, HFLM loop, batch 1"]
    for name, elapsed in seconds.items():
        print(
            f"  {name:<34} {elapsed:6.2f} s  {len(requests) / elapsed:7.1f} requests/s  "
            f"{tokens / elapsed:7.0f} tokens/s  {batched / elapsed:5.2f}x batched  {single / elapsed:5.2f}x batch 1"
        )
    ours_seconds = seconds["ours, model.scoring.score"]
    print(
        f"ours vs transformers HFLM loop: {batched / ours_seconds:.2f}x batched, "
        f"{single / ours_seconds:.2f}x batch 1"
    )


if __name__ == "__main__":
    main()
