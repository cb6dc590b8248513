"""Training-step throughput: our GPT vs transformers' GPT2LMHeadModel, same config and batch, one run.

A step is forward + loss + backward + AdamW step, dropout 0, fp32 on CPU (plus a bf16-autocast line for
ours). Both models start from the same weights and must give the same first loss. Usage:

    python bench/train_step.py [--layers 4] [--embd 256] [--heads 4] [--seq 256] [--batch 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--embd", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="Timed steps per contender per repeat.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import torch
    import transformers

    from model.gpt import GPT, GPTConfig
    from model.hf import save_hf

    torch.manual_seed(0)
    config = GPTConfig(n_layer=args.layers, n_head=args.heads, n_embd=args.embd, block_size=args.seq)
    ours = GPT(config).train()
    with tempfile.TemporaryDirectory() as directory:
        save_hf(ours, directory)
        theirs = transformers.GPT2LMHeadModel.from_pretrained(directory, attn_implementation="sdpa").train()
    tokens = torch.randint(0, config.vocab_size, (args.batch, args.seq + 1), generator=torch.Generator())
    inputs, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def our_loss(model, fused: bool = False):
        model.fused_loss = fused  # as model.parallel.parallelize sets it for `webtext train`
        return model(inputs, targets)[1]

    def their_loss(model):
        # shift_labels: HF would otherwise drop the last position's target and score one token fewer.
        return model(input_ids=inputs, labels=targets, shift_labels=targets).loss

    with torch.no_grad():
        first = our_loss(ours).item(), their_loss(theirs).item()
    if abs(first[0] - first[1]) > 1e-4:
        raise SystemExit(f"first losses differ: ours {first[0]:.6f}, transformers {first[1]:.6f}")
    print(
        f"config: {args.layers} layers, {args.embd} wide, {args.heads} heads, vocab {config.vocab_size}, "
        f"batch {args.batch} x {args.seq} tokens; {torch.get_num_threads()} threads; torch {torch.__version__}, "
        f"transformers {transformers.__version__}; first loss {first[0]:.4f} in both"
    )

    # The same optimizer settings for both: AdamW on every parameter, CPU's default (single-tensor) path.
    def adamw(model):
        return torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)

    fp32 = contextlib.nullcontext
    contenders = {
        "transformers GPT2LMHeadModel, fp32": (theirs, adamw(theirs), their_loss, fp32),
        # webtext train's CPU fp32 step: the fused output head + loss (model/fused_loss.py)
        "ours, fp32": (ours, adamw(ours), lambda model: our_loss(model, fused=True), fp32),
        "ours, bf16 autocast": (ours, adamw(ours), our_loss, lambda: torch.autocast("cpu", torch.bfloat16)),
    }

    def steps(model, optimizer, loss_of, precision, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            with precision():
                loss = loss_of(model)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    for contender in contenders.values():  # warm-up: allocator, optimizer state, oneDNN kernels
        steps(*contender, 1)
    # The machine's speed drifts within minutes, so contenders take turns and each keeps its best turn.
    seconds = dict.fromkeys(contenders, float("inf"))
    for repeat in range(args.repeats):
        turns = {name: steps(*contender, args.steps) / args.steps for name, contender in contenders.items()}
        seconds = {name: min(seconds[name], turns[name]) for name in contenders}
        print(f"  run {repeat + 1}/{args.repeats}: " + ", ".join(f"{t:.2f} s/step" for t in turns.values()))

    step_tokens = args.batch * args.seq
    base = step_tokens / seconds["transformers GPT2LMHeadModel, fp32"]
    for name, elapsed in seconds.items():
        speed = step_tokens / elapsed
        print(f"  {name:<36} {elapsed:6.3f} s/step  {speed:8.0f} tokens/s  {speed / base:5.2f}x transformers")
    ratio = seconds["transformers GPT2LMHeadModel, fp32"] / seconds["ours, fp32"]
    print(
        f"ours fp32 vs transformers fp32: {ratio:.2f}x (target >= 1.3x) {'ok' if ratio >= 1.3 else 'BELOW TARGET'}"
    )


if __name__ == "__main__":
    main()
