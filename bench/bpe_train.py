"""Training throughput and quality: ours vs HF tokenizers' BPE trainer on the same >= 90 MB, one run.

Both train a byte-level BPE with GPT-2's pre-tokenizer on whole documents (HF: `ByteLevel` with GPT-2's
regex, `train_from_iterator`), the same vocabulary size and min_frequency, each in its own process
(whose whole process tree's memory is sampled). Then both encode the same held-out documents
(every 20th, never trained on) and the script prints wall seconds, peak RSS and bytes/token, with ratios.

    python bench/bpe_train.py [--mb 100] [--vocab-size 50257]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))


def build_split(megabytes: float) -> tuple[Path, Path]:
    """Train and held-out JSONL files from the offline mixed corpus (see bpe_encode.py)."""
    from bpe_encode import build_corpus

    train_path = HERE / "data" / f"train-{megabytes:g}mb.jsonl"
    held_path = HERE / "data" / f"heldout-{megabytes:g}mb.jsonl"
    if not (train_path.exists() and held_path.exists()):
        docs = build_corpus(megabytes)
        with train_path.open("w", encoding="utf-8") as train, held_path.open("w", encoding="utf-8") as held:
            for i, text in enumerate(docs):
                (held if i % 20 == 0 else train).write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return train_path, held_path


def _documents(path: Path):
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            yield json.loads(line)["text"]


def _worker(args) -> None:
    """Train one contender and report seconds and held-out bytes/token as JSON on stdout."""
    held_out = list(_documents(Path(args.held_out)))
    started = time.perf_counter()
    if args.worker == "ours":
        from bpe.trainer import train

        encoding = train(
            [args.corpus], vocab_size=args.vocab_size, min_frequency=args.min_frequency, progress=True
        )
        seconds = time.perf_counter() - started
        tokens = sum(len(encoding.encode_ordinary(text)) for text in held_out)
        size = encoding.n_vocab
    else:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        trainer = trainers.BpeTrainer(
            vocab_size=args.vocab_size,
            min_frequency=args.min_frequency,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=True,
        )
        tokenizer.train_from_iterator(_documents(Path(args.corpus)), trainer=trainer)
        seconds = time.perf_counter() - started
        tokens = sum(len(tokenizer.encode(text).ids) for text in held_out)
        size = tokenizer.get_vocab_size()
    held_bytes = sum(len(text.encode("utf-8")) for text in held_out)
    print(json.dumps({"seconds": seconds, "bytes_per_token": held_bytes / tokens, "vocab_size": size}))


def _tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _run(contender: str, args, corpus: Path, held: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        contender,
        "--corpus",
        str(corpus),
        "--held-out",
        str(held),
        "--vocab-size",
        str(args.vocab_size),
        "--min-frequency",
        str(args.min_frequency),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{contender} failed with exit code {process.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    result.update(wall=time.perf_counter() - started, peak_rss_mb=peak[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--vocab-size", type=int, default=50257)
    parser.add_argument("--min-frequency", type=int, default=2)
    parser.add_argument("--worker", choices=["ours", "hf"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--held-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    corpus, held = build_split(args.mb)
    print(
        f"train: {corpus.stat().st_size / 1e6:.1f} MB, held out: {held.stat().st_size / 1e6:.1f} MB (JSONL)"
    )
    results = {name: _run(name, args, corpus, held) for name in ("hf", "ours")}
    for name, label in (("hf", "HF tokenizers BpeTrainer"), ("ours", "webtext bpe.train")):
        r = results[name]
        print(
            f"  {label:<26} wall {r['seconds']:7.1f} s  peak RSS {r['peak_rss_mb']:7.0f} MB  "
            f"held-out {r['bytes_per_token']:.4f} bytes/token  ({r['vocab_size']} tokens)"
        )
    ours, hf = results["ours"], results["hf"]
    print("\nratios (targets from the issue):")
    print(
        f"  wall time      {ours['seconds'] / hf['seconds']:5.2f}x HF   target <= 1.0x (sentencepiece: 0.44x)"
    )
    print(f"  bytes/token    {ours['bytes_per_token'] / hf['bytes_per_token']:5.3f}x HF  target >= 0.995x")
    print(f"  peak memory    {ours['peak_rss_mb'] / hf['peak_rss_mb']:5.2f}x HF   target <= 1.5x")


if __name__ == "__main__":
    main()
