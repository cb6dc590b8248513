"""Run a text -> ids function over many texts in forked worker processes, the caller working too.

Forking lets every worker inherit the texts, the vocabulary and the warm piece cache for free: nothing
is pickled on the way in. Workers and the caller claim chunks from a shared counter, so a slow chunk
never leaves a core idle, and results come back as flat arrays (2 bytes per id) over a pipe.
"""

from __future__ import annotations

import gc
import multiprocessing
from array import array
from collections.abc import Callable, Sequence
from itertools import chain, islice

CHUNKS_PER_WORKER = 16


def fork_available() -> bool:
    """Fork exists here, and this process may have children (a daemonic pool worker may not)."""
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon


def map_in_forked_workers(
    encode: Callable[[str], list[int]],
    texts: Sequence[str],
    workers: int,
    typecode: str = "H",
    cache: dict | None = None,
) -> list[list[int]]:
    """`[encode(t) for t in texts]` on `workers` processes (the caller is one of them), in order.

    `cache` is a dict that `encode` fills (in insertion order); the entries a worker adds come back
    and are merged into the caller's, so the next batch's workers start as warm as one process would be.
    """
    context = multiprocessing.get_context("fork")
    bounds = _chunk_bounds(texts, workers * CHUNKS_PER_WORKER)
    counter = context.Value("i", 0)

    def claim() -> int:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        return index

    children = []
    for _ in range(workers - 1):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_child, args=(encode, texts, bounds, claim, sender, typecode, cache), daemon=True
        )
        process.start()
        sender.close()
        children.append((process, receiver))

    results: list[list[int] | None] = [None] * len(texts)
    try:
        while (index := claim()) < len(bounds):
            start, end = bounds[index]
            results[start:end] = map(encode, texts[start:end])
        _collect(children, bounds, results, cache)
    except BaseException:
        for process, receiver in children:
            process.terminate()
            process.join()
            receiver.close()
        raise
    return results  # type: ignore[return-value]


def _collect(children, bounds, results, cache: dict | None) -> None:
    """Place each child's results; re-raise the first failure after all children are joined."""
    failure = None
    for process, receiver in children:
        try:
            message = receiver.recv()
        except EOFError:
            process.join()
            message = ("error", f"worker process {process.pid} died (exit code {process.exitcode})")
        receiver.close()
        process.join()
        if message[0] == "error":
            failure = failure or message[1]
            continue
        done, learned = message[1]
        if cache is not None:
            cache.update(learned)
        for index, flat, lengths in done:
            ids = flat.tolist()
            position = 0
            for target, length in enumerate(lengths, start=bounds[index][0]):
                results[target] = ids[position : position + length]
                position += length
    if isinstance(failure, BaseException):
        raise failure
    if failure is not None:
        raise RuntimeError(failure)


def _child(encode, texts, bounds, claim, sender, typecode: str, cache: dict | None) -> None:
    gc.freeze()  # inherited objects: never scanned, so never copied on write by the collector
    gc.disable()
    inherited = len(cache) if cache is not None else 0
    first_key = next(iter(cache), None) if cache else None
    done = []
    try:
        while (index := claim()) < len(bounds):
            start, end = bounds[index]
            encoded = list(map(encode, texts[start:end]))
            done.append((index, array(typecode, chain.from_iterable(encoded)), list(map(len, encoded))))
        sender.send(("ok", (done, _new_entries(cache, inherited, first_key))))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which re-raises it
        sender.send(("error", error))
    finally:
        sender.close()


def _new_entries(cache: dict | None, inherited: int, first_key) -> list:
    """What this worker added to `cache`: the entries past the inherited ones, or all if it was cleared."""
    if not cache:
        return []
    cleared = next(iter(cache)) != first_key
    return list(islice(cache.items(), 0 if cleared else inherited, None))


def _chunk_bounds(texts: Sequence[str], count: int) -> list[tuple[int, int]]:
    """Split `texts` into about `count` runs of similar total length, as (start, end) index pairs."""
    target = max(sum(map(len, texts)) // max(count, 1), 1)
    bounds, start, size = [], 0, 0
    for index, text in enumerate(texts):
        size += len(text)
        if size >= target:
            bounds.append((start, index + 1))
            start, size = index + 1, 0
    if start < len(texts):
        bounds.append((start, len(texts)))
    return bounds
