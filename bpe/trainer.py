"""Train a byte-level BPE vocabulary as GPT-2's was built: count pre-tokens, then merge pairs greedily.

Counting streams the input through worker processes (the corpus is never held, only the table of
unique pre-tokens). Merging runs over that table with incremental pair counts and a lazy max-heap:
each merge touches only the words that contain the pair, never a full recount.

Ids follow GPT-2's layout, so the files load in tiktoken too: the 256 single bytes in GPT-2's byte
order, then one id per merge in the order learned, then the special tokens. Ties between pairs of
equal count go to the pair whose tokens were created first (smaller ids, left token before right),
so the same input always gives the same merges.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
import queue
import resource
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain

import numpy as np
import regex

from bpe.corpus import CorpusStats, iter_documents
from bpe.encoding import ENDOFTEXT, Encoding, replace_surrogates
from bpe.files import GPT2_BYTE_ORDER, SPECIAL_TOKEN_SHAPE
from bpe.pretokenize import GPT2_PATTERN, Pretokenizer

_BATCH_CHARS = 1 << 22  # text per task sent to a counting worker
_POLL_SECONDS = 0.5
_BYTE_TO_ID = bytes.maketrans(bytes(GPT2_BYTE_ORDER), bytes(range(256)))


@dataclass
class TrainStats:
    """What a training run read and did; printed as the closing summary."""

    files: int = 0
    documents: int = 0
    bytes_read: int = 0
    documents_with_replaced_bytes: int = 0
    null_texts_skipped: int = 0
    unique_pretokens: int = 0
    merges: int = 0
    vocab_size: int = 0
    count_seconds: float = 0.0
    merge_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def train(
    inputs: Sequence[str | os.PathLike],
    vocab_size: int = 50257,
    *,
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    min_frequency: int = 2,
    pattern: str = GPT2_PATTERN,
    text_field: str = "text",
    fmt: str = "auto",
    num_workers: int | None = None,
    name: str = "bpe",
    progress: bool = False,
    stats: TrainStats | None = None,
) -> Encoding:
    """Train on text files, JSONL (.gz/.zst/...) or Parquet shards; whole documents are the unit."""
    _check_vocab_size(vocab_size, special_tokens)
    stats = stats if stats is not None else TrainStats()
    counts = count_pretokens(
        inputs,
        pattern=pattern,
        text_field=text_field,
        fmt=fmt,
        num_workers=num_workers,
        progress=progress,
        stats=stats,
    )
    return train_from_counts(
        counts,
        vocab_size,
        special_tokens=special_tokens,
        min_frequency=min_frequency,
        pattern=pattern,
        name=name,
        progress=progress,
        stats=stats,
    )


def _check_vocab_size(vocab_size: int, special_tokens: Sequence[str]) -> None:
    smallest = 256 + len(special_tokens)
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size {vocab_size} is too small: the 256 byte tokens and {len(special_tokens)} special "
            f"token(s) alone need {smallest}"
        )
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError(f"special tokens repeat: {list(special_tokens)}")
    for token in special_tokens:
        if not SPECIAL_TOKEN_SHAPE.fullmatch(token):
            raise ValueError(
                f"special token {token!r} must look like <|endoftext|> or <pad>: '<', no spaces, '>' "
                "(the vocabulary files tell special tokens from ordinary ones by that shape)"
            )


# ---------------------------------------------------------------------- counting


def count_pieces(texts: Iterable[str], pretokenizer: Pretokenizer, counts: Counter | None = None) -> Counter:
    """Pre-token -> occurrences in `texts`, added to `counts` (Counter.update over a list runs in C)."""
    counts = counts if counts is not None else Counter()
    findall = pretokenizer.findall
    for text in texts:
        counts.update(findall(text))
    return counts


def count_pretokens(
    inputs: Sequence[str | os.PathLike],
    *,
    pattern: str = GPT2_PATTERN,
    text_field: str = "text",
    fmt: str = "auto",
    num_workers: int | None = None,
    progress: bool = False,
    stats: TrainStats | None = None,
) -> Counter:
    """Count pre-tokens over `inputs` with `num_workers` processes (default: one per core)."""
    stats = stats if stats is not None else TrainStats()
    corpus = CorpusStats()
    started = time.perf_counter()
    documents = iter_documents(inputs, text_field=text_field, fmt=fmt, stats=corpus)
    workers = num_workers or os.cpu_count() or 1
    with _progress(progress, "counting", unit="B", unit_scale=True) as bar:
        batches = _batches(documents, corpus, bar)
        if workers == 1:
            counts = count_pieces((text for batch in batches for text in batch), Pretokenizer(pattern))
        else:
            counts = _count_in_workers(batches, pattern, workers)
    stats.files, stats.documents = corpus.files, corpus.documents
    stats.bytes_read, stats.documents_with_replaced_bytes = corpus.bytes, corpus.documents_with_replaced_bytes
    stats.null_texts_skipped = corpus.null_texts_skipped
    if corpus.null_texts_skipped:
        stats.notes.append(f"{corpus.null_texts_skipped:,} documents with a null text were skipped")
    stats.unique_pretokens = len(counts)
    stats.count_seconds = time.perf_counter() - started
    return counts


def _batches(documents: Iterator[str], corpus: CorpusStats, bar) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    reported = 0
    for text in documents:
        batch.append(text)
        size += len(text)
        if size >= _BATCH_CHARS:
            yield batch
            bar.update(corpus.bytes - reported)
            reported = corpus.bytes
            batch, size = [], 0
    if batch:
        yield batch
    bar.update(corpus.bytes - reported)


def _count_in_workers(batches: Iterator[list[str]], pattern: str, workers: int) -> Counter:
    """Workers keep their own tables and send them once at the end; the queue bounds text in flight.

    A worker that raises reports the exception; one that dies (killed for memory, say) is noticed
    while feeding or collecting, so the caller gets an error instead of waiting forever.
    """
    regex.compile(pattern)  # a bad pattern fails here, not in every worker
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    tasks = context.Queue(maxsize=2 * workers)
    results = context.Queue()
    processes = [
        context.Process(target=_count_worker, args=(pattern, tasks, results), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    tables: list[dict] = []
    try:
        for item in chain(batches, [None] * workers):
            while True:
                try:
                    tasks.put(item, timeout=_POLL_SECONDS)
                    break
                except queue.Full:
                    _poll(processes, results, tables)
        while len(tables) < workers:
            _poll(processes, results, tables, wait=_POLL_SECONDS)
    except BaseException:
        for pending in (tasks, results):
            pending.cancel_join_thread()  # or exiting would wait on a feeder thread that cannot finish
        for process in processes:
            process.terminate()
            process.join()
        raise
    for process in processes:
        process.join()
    counts = max(tables, key=len)
    for table in tables:
        if table is not counts:
            for piece, count in table.items():
                counts[piece] = counts.get(piece, 0) + count
    return counts


def _poll(processes, results, tables: list[dict], wait: float = 0.0) -> None:
    """Collect finished tables; raise what a worker reported, or if one died or all left without a table."""
    try:
        while True:
            reported = results.get(timeout=wait) if wait else results.get_nowait()
            if isinstance(reported, BaseException):
                raise reported
            tables.append(reported)
            wait = 0.0
    except queue.Empty:
        pass
    crashed = [process.exitcode for process in processes if process.exitcode not in (None, 0)]
    if crashed:
        raise RuntimeError(f"a counting worker process died (exit code {crashed[0]})")
    if (
        len(tables) < len(processes)
        and all(process.exitcode == 0 for process in processes)
        and results.empty()
    ):
        raise RuntimeError("counting worker processes exited without sending their counts")


def _count_worker(pattern: str, tasks, results) -> None:
    try:
        pretokenizer = Pretokenizer(pattern)
        counts: Counter = Counter()
        while (batch := tasks.get()) is not None:
            count_pieces(batch, pretokenizer, counts)
        results.put(dict(counts))
    except BaseException as error:  # noqa: BLE001 - handed to the parent, which raises it
        results.put(error)


# ---------------------------------------------------------------------- merging


def train_from_counts(
    counts: Mapping[str, int],
    vocab_size: int = 50257,
    *,
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    min_frequency: int = 2,
    pattern: str = GPT2_PATTERN,
    name: str = "bpe",
    progress: bool = False,
    stats: TrainStats | None = None,
) -> Encoding:
    """Learn merges from a table of pre-token counts (from `count_pretokens` or a counts file)."""
    _check_vocab_size(vocab_size, special_tokens)
    stats = stats if stats is not None else TrainStats()
    started = time.perf_counter()
    target_merges = vocab_size - 256 - len(special_tokens)
    pieces = [_utf8(piece) for piece in counts]
    frequencies = list(counts.values())
    token_bytes = [bytes([b]) for b in GPT2_BYTE_ORDER]
    merges = _learn_merges(pieces, frequencies, token_bytes, target_merges, min_frequency, progress, stats)
    if len(merges) < target_merges:
        message = (
            f"stopped after {len(merges)} of {target_merges} merges: no pair occurs at least "
            f"{min_frequency} times; the vocabulary has {256 + len(merges) + len(special_tokens)} tokens, "
            f"not {vocab_size}"
        )
        warnings.warn(message, stacklevel=2)
        stats.notes.append(message)
    vocab = {token: token_id for token_id, token in enumerate(token_bytes)}
    specials = {token: len(vocab) + i for i, token in enumerate(special_tokens)}
    stats.merges = len(merges)
    stats.vocab_size = len(vocab) + len(specials)
    stats.merge_seconds = time.perf_counter() - started
    stats.peak_memory_mb = peak_memory_mb()
    return Encoding(
        name,
        pat_str=pattern,
        vocab=vocab,
        merges=[(token_bytes[a], token_bytes[b]) for a, b in merges],
        special_tokens=specials,
    )


def _learn_merges(
    pieces: list[bytes],
    frequencies: list[int],
    token_bytes: list[bytes],
    target: int,
    min_frequency: int,
    progress: bool,
    stats: TrainStats,
) -> list[tuple[int, int]]:
    """The merge loop. Appends each new token's bytes to `token_bytes`; returns merges as id pairs."""
    words, frequencies = _initial_words(pieces, frequencies)
    pair_counts, where = _initial_pairs(words, frequencies)
    heap = [(-count, a, b) for (a, b), count in pair_counts.items()]
    heapq.heapify(heap)
    known = set(token_bytes)
    merges: list[tuple[int, int]] = []
    skipped = 0
    with _progress(progress, "merging", total=target, unit="merge") as bar:
        while len(merges) < target and heap:
            negative, a, b = heapq.heappop(heap)
            count = pair_counts.get((a, b), 0)
            if count != -negative:  # stale entry: counts only fall, so re-queue at the true count
                if count > 0:
                    heapq.heappush(heap, (-count, a, b))
                continue
            if count < min_frequency:
                break
            merged = token_bytes[a] + token_bytes[b]
            if merged in known:  # the same bytes by another split: no id can hold both
                pair_counts[a, b] = 0  # never chosen again (its count can only fall from here)
                skipped += 1
                continue
            new = len(token_bytes)
            token_bytes.append(merged)
            known.add(merged)
            merges.append((a, b))
            for pair, total in _apply_merge(a, b, new, words, frequencies, pair_counts, where).items():
                heapq.heappush(heap, (-total, *pair))
            bar.update(1)
    if skipped:
        stats.notes.append(f"skipped {skipped} merges whose bytes another merge had already produced")
    return merges


def _utf8(piece: str) -> bytes:
    try:
        return piece.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the encoder sees U+FFFD there, so train on that
        return replace_surrogates(piece).encode("utf-8")


def _initial_words(pieces: list[bytes], frequencies: list[int]) -> tuple[list[list[int]], list[int]]:
    """Pre-tokens as lists of byte ids; single-byte pre-tokens have no pairs and are dropped."""
    words, kept = [], []
    for piece, frequency in zip(pieces, frequencies):
        if len(piece) > 1:
            words.append(list(piece.translate(_BYTE_TO_ID)))
            kept.append(frequency)
    return words, kept


def _initial_pairs(words: list[list[int]], frequencies: list[int]) -> tuple[dict, defaultdict]:
    """Byte-pair counts and, per pair, the words holding it, computed with numpy in one pass."""
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    if not len(words):
        return {}, defaultdict(list)
    flat = np.fromiter((i for word in words for i in word), dtype=np.int64, count=int(lengths.sum()))
    owner = np.repeat(np.arange(len(words)), lengths)
    inside = owner[:-1] == owner[1:]  # adjacent positions within one word
    keys = (flat[:-1] * 256 + flat[1:])[inside]
    pair_owner = owner[:-1][inside]
    weights = np.asarray(frequencies, dtype=np.int64)[pair_owner]
    totals = np.bincount(keys, weights=weights, minlength=65536).astype(np.int64)
    order = np.lexsort((pair_owner, keys))
    keys, pair_owner = keys[order], pair_owner[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    pair_counts: dict[tuple[int, int], int] = {}
    where: defaultdict[tuple[int, int], list[int]] = defaultdict(list)
    for start, end in zip(starts.tolist(), ends.tolist()):
        key = int(keys[start])
        pair = (key >> 8, key & 255)
        pair_counts[pair] = int(totals[key])
        where[pair] = np.unique(pair_owner[start:end]).tolist()
    return pair_counts, where


def _apply_merge(
    a: int,
    b: int,
    new: int,
    words: list[list[int]],
    frequencies: list[int],
    pair_counts: dict,
    where: defaultdict,
) -> dict[tuple[int, int], int]:
    """Merge (a, b) -> new in every word holding it; update neighbouring pair counts.

    Returns the pairs that gained occurrences (all contain `new`) with their totals, for the heap.
    Words only ever lose their other pairs, so those pairs' heap entries just go stale, and so do
    entries in `where` (a word listed for a pair it no longer has is simply skipped).
    """
    counts = pair_counts
    gained: dict[tuple[int, int], None] = {}
    for w in dict.fromkeys(where.pop((a, b), ())):
        word = words[w]
        remaining = word.count(a)  # each step below consumes one `a` (two when a == b merge)
        if not remaining:
            continue
        frequency = frequencies[w]
        i = -1
        while remaining:
            i = word.index(a, i + 1)
            remaining -= 1
            if i + 1 < len(word) and word[i + 1] == b:
                if a == b:
                    remaining -= 1
                if i:
                    left = word[i - 1]
                    counts[left, a] -= frequency
                    key = (left, new)
                    counts[key] = counts.get(key, 0) + frequency
                    where[key].append(w)
                    gained[key] = None
                if i + 2 < len(word):
                    right = word[i + 2]
                    counts[b, right] -= frequency
                    key = (new, right)
                    counts[key] = counts.get(key, 0) + frequency
                    where[key].append(w)
                    gained[key] = None
                word[i : i + 2] = (new,)
    del counts[a, b]
    return {pair: counts[pair] for pair in gained if counts[pair] > 0}


# ---------------------------------------------------------------------- helpers


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its finished children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return max(own, children) * scale / 1e6


def _progress(enabled: bool, description: str, **kwargs):
    from tqdm import tqdm

    return tqdm(desc=description, disable=not enabled, file=sys.stderr, **kwargs)
