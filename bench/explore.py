"""`webtext explore`'s /api/next latency as a sentence grows by one clicked token, vs one uncached forward.

A random 124M GPT-2 (fp32, CPU) behind the real HTTP server on 127.0.0.1; the sentence starts at about
--tokens GPT-2 tokens of English and each request appends the previous answer's first option, as a click
does. The anchor is one uncached forward pass (`model(idx)`) of the starting sentence, best of 5.
Usage:

    python bench/explore.py [--tokens 200] [--clicks 40] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = (
    "The bridge over the river was built in the spring of that year by workers who came from the towns "
    "along the coast, and it stood for a century before the flood took it away. "
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import torch

    import bpe
    from model.explore import Explorer, make_server
    from model.gpt import GPT, GPTConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("124M")).eval()
    encoding = bpe.get_encoding("gpt2")
    ids = encoding.encode(WORDS * (args.tokens // 30 + 1))[: args.tokens]
    text = encoding.decode(ids)

    with torch.inference_mode():
        idx = torch.tensor([ids])
        model(idx)
        forwards = []
        for _ in range(5):
            started = time.perf_counter()
            model(idx)
            forwards.append(time.perf_counter() - started)
    anchor = min(forwards)

    server = make_server(Explorer(model, encoding, {"source": "random 124M"}), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/next"

    def post(body: dict) -> dict:
        request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    post({"text": text})  # the first table runs the whole sentence: not a click
    latencies = []
    for _ in range(args.clicks):
        text += post({"text": text})["options"][0]["token"]
        started = time.perf_counter()
        post({"text": text})
        latencies.append(time.perf_counter() - started)
    server.shutdown()

    p50 = statistics.median(latencies)
    p95 = sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"GPT-2 124M, random weights, fp32, CPU, {torch.get_num_threads()} threads; a {len(ids)}-token "
        f"sentence growing by {args.clicks} clicked tokens"
    )
    print(f"  uncached forward of the sentence   {1000 * anchor:7.1f} ms")
    print(f"  /api/next after a click      p50   {1000 * p50:7.1f} ms  ({anchor / p50:.1f}x faster)")
    print(f"                               p95   {1000 * p95:7.1f} ms  ({anchor / p95:.1f}x faster)")


if __name__ == "__main__":
    main()
