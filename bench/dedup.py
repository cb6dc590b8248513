"""Near-dedup: signature throughput vs a naive datasketch loop, and peak memory vs an in-memory LSH index.

Speed: documents/s on one core for webtext.near_dedup.signature (normalize, hash 5-grams vectorized, one
datasketch update_batch) and for `m = MinHash(num_perm); for s in shingles: m.update(s.encode())` on a
subsample of the same documents; both include normalization and use num_perm = 120.

Memory: peak RSS of a fresh process per measurement (its own ru_maxrss) at 10k and 100k documents of
pseudo-prose generated on the fly (never held). "ours" is the library-level streaming path the Beam stage
runs before its GroupByKey: shingle hashes -> signature -> band keys, each (band key, document, shingle
hashes) record written to a temporary file, as a shuffle would receive it; no index is held. "MinHashLSH"
is datasketch's in-memory index (same 20 x 6 bands) with a LeanMinHash inserted per document. Usage:

    python bench/dedup.py [--docs 2000] [--naive 300] [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import itertools
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def documents(count: int, seed: int = 0):
    """Pseudo-prose of 200-400 words from a Zipf-weighted invented vocabulary, one at a time."""
    rng = random.Random(seed)
    vocabulary = [f"{rng.choice('bcdfgklmnprstvz')}{rng.randrange(36**3):x}" for _ in range(20_000)]
    cumulative = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(vocabulary))))
    for _ in range(count):
        yield " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(200, 400))) + "."


def _peak_memory(contender: str, count: int) -> None:
    """Run in a child: stream `count` documents through the contender, print peak RSS in MiB."""
    from datasketch import LeanMinHash, MinHashLSH

    from webtext.near_dedup import NearDedupConfig, band_keys, shingle_hashes, signature_of_shingles

    config = NearDedupConfig()
    lsh = (
        MinHashLSH(num_perm=config.num_perm, params=(config.bands, config.rows))
        if contender == "lsh"
        else None
    )
    with tempfile.TemporaryFile() as shuffle:
        for index, text in enumerate(documents(count)):
            if contender == "none":
                continue
            hashes = shingle_hashes(text, config.ngram)
            sig = signature_of_shingles(hashes, config)
            if lsh is not None:
                lsh.insert(index, LeanMinHash(seed=config.seed, hashvalues=sig, scheme="affine32"))
            else:
                record = index.to_bytes(8, "little") + hashes.tobytes()
                for key in band_keys(sig, config):
                    shuffle.write(len(record).to_bytes(4, "little") + key + record)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _measure(contender: str, count: int) -> subprocess.Popen:
    code = f"import sys; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'bench')!r}]; import dedup; "
    code += f"dedup._peak_memory({contender!r}, {count})"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--naive", type=int, default=300, help="subsample for the naive loop")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from datasketch import MinHash

    from webtext.near_dedup import NearDedupConfig, shingles, signature

    config = NearDedupConfig()
    docs = list(documents(args.docs, seed=1))
    words = sum(len(d.split()) for d in docs) / len(docs)
    print(f"signatures: {len(docs)} documents of {words:.0f} words, num_perm {config.num_perm}, one core")

    def ours() -> None:
        for text in docs:
            signature(text, config)

    def naive() -> None:
        for text in docs[: args.naive]:
            minhash = MinHash(num_perm=config.num_perm, seed=config.seed)
            for shingle in shingles(text, config.ngram):
                minhash.update(shingle.encode())

    rates = {}
    for name, function, count in [("ours", ours, len(docs)), ("naive update loop", naive, args.naive)]:
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            function()
            best = min(best, time.perf_counter() - started)
        rates[name] = count / best
        print(f"  {name:<18} {rates[name]:8.0f} docs/s  ({count} documents, best of 2)")
    ratio = rates["ours"] / rates["naive update loop"]
    print(f"  ratio {ratio:.1f}x  target >= 5x  {'ok' if ratio >= 5 else 'BELOW TARGET'}")

    print("\npeak RSS (MiB, one process each; 'generate only' = interpreter + imports + document generator):")
    print(f"  {'documents':>10} {'generate only':>14} {'ours (stream)':>14} {'MinHashLSH':>11}")
    peaks = {}
    for count in args.sizes:
        children = {name: _measure(name, count) for name in ("none", "ours", "lsh")}
        peaks[count] = {name: float(child.communicate()[0]) for name, child in children.items()}
        row = peaks[count]
        print(f"  {count:>10} {row['none']:>14.0f} {row['ours']:>14.0f} {row['lsh']:>11.0f}", flush=True)
    small, large = min(args.sizes), max(args.sizes)
    for name, label in (("ours", "ours (stream)"), ("lsh", "MinHashLSH")):
        growth = peaks[large][name] - peaks[small][name]
        print(f"  {label:<14} grows {growth:6.0f} MiB from {small} to {large} documents")


if __name__ == "__main__":
    main()
