"""Greedy decoding throughput: GPT.generate (KV cache) vs transformers' GPT2LMHeadModel.generate, one run.

Both hold the same random 124M GPT-2 weights (ours from GPTConfig.preset, saved with model.hf.save_hf and
loaded by transformers with sdpa attention), in fp32 on the CPU, under inference_mode. Each continues the
same random prompt greedily (ours: top_k=1; theirs: do_sample=False, use_cache=True), and both must give
the same ids first. Tokens/s counts the new tokens over the whole call, the prompt's prefill included.
Usage:

    python bench/generate.py [--prompt-tokens 512] [--new-tokens 256] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import torch
    import transformers

    from model.gpt import GPT, GPTConfig
    from model.hf import save_hf

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.prompt_tokens + args.new_tokens > 1024:
        raise SystemExit("prompt and new tokens must fit GPT-2's 1024 positions (transformers cannot slide)")
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    ours = GPT(GPTConfig.preset("124M")).eval()
    with tempfile.TemporaryDirectory() as directory:
        save_hf(ours, directory)
        theirs = transformers.GPT2LMHeadModel.from_pretrained(directory, attn_implementation="sdpa").eval()
    prompt = torch.randint(0, ours.config.vocab_size, (1, args.prompt_tokens))

    contenders = {
        "transformers GPT2LMHeadModel.generate": lambda: theirs.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            use_cache=True,
            max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens,
            pad_token_id=0,
        ),
        "ours GPT.generate (KV cache)": lambda: ours.generate(prompt, args.new_tokens, top_k=1),
    }

    @torch.inference_mode()
    def timed(function) -> tuple[float, torch.Tensor]:
        started = time.perf_counter()
        result = function()
        return time.perf_counter() - started, result

    # The first turn warms both up and checks that they decode the same ids.
    first = {name: timed(function)[1] for name, function in contenders.items()}
    theirs_ids, ours_ids = first.values()
    if not torch.equal(theirs_ids, ours_ids):
        differ = (theirs_ids != ours_ids).nonzero()[0, 1].item() - args.prompt_tokens
        raise SystemExit(f"the greedy ids differ from new token {differ} on")
    print(
        f"GPT-2 124M, random weights, fp32, CPU; prompt {args.prompt_tokens} tokens, {args.new_tokens} new "
        f"greedy; {torch.get_num_threads()} threads; torch {torch.__version__}, transformers "
        f"{transformers.__version__}; the same {args.new_tokens} ids from both"
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

    anchor = seconds["transformers GPT2LMHeadModel.generate"]
    for name, elapsed in seconds.items():
        print(
            f"  {name:<38} {elapsed:7.2f} s  {args.new_tokens / elapsed:7.1f} tokens/s  {anchor / elapsed:5.2f}x"
        )
    print(f"ours vs transformers: {anchor / seconds['ours GPT.generate (KV cache)']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
