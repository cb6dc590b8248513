"""Tokenize `webtext build`'s Parquet shards into llm.c's token shards (`model/tokens.py`), on Apache Beam.

    ReadFromParquet | Tokenize | PlanOffsets | JoinOffsets | CutShards | GroupByShard | WriteShards

Every document becomes `<|endoftext|>` followed by its text's ids (`encode_ordinary`, so text that spells a
special token stays text), and each split is those documents concatenated in id order, cut into shards
of exactly `shard_tokens` tokens (the last one shorter): `webtext_{train,val}_NNNNNN.bin`, numbered from 0
in each split. The same input gives byte-identical shards on every runner.

The order is global, but no worker gathers the tokens: only (document key, token count) pairs go to one
worker (PlanOffsets; some 100 bytes a document, under a GB for WebText's 8 million), which sorts them and
hands back each document's split and offset. Each document's tokens then join their offset, are cut
where shard boundaries fall (a document may span shards), and one worker per shard writes it.

The validation split is a fixed rule per document: it goes to val when a hash of its id, read as a
fraction of 2**64, is below `val_fraction`, so a document keeps its split when the corpus grows. If that
picks no document though `val_fraction` > 0 (a small corpus), the document with the lowest hash goes to
val, so that a tiny build still has a validation shard.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

import bpe
from bpe.manifest import MANIFEST_KEY
from bpe.registry import describe, source_of
from model.tokens import MAX_TOKENS, SUMMARY_FILE, TOKEN_DTYPE, write_tokens
from model.tokens import SHARD_GLOB as TOKEN_SHARD_GLOB
from pipelines.files import (
    WriteManifest,
    checked_inputs,
    finish_manifest,
    prepare_output,
    run_pipeline,
    write_atomically,
    write_summary,
)
from pipelines.metrics import count, read_counters
from webtext.shards import SHARD_GLOB, STATS_FILE

TRAIN = "train"
VAL = "val"
SPLITS = (TRAIN, VAL)
OUTPUT_PREFIX = "webtext"
OUTPUT_GLOB = TOKEN_SHARD_GLOB
DEFAULT_SHARD_TOKENS = 100_000_000
"""llm.c's fineweb.py."""
DEFAULT_VAL_FRACTION = 0.01

DUPLICATE = "duplicate"
NULL_TEXT = "null_text"
NULL_ID = "null_id"
TOKENIZE_REASONS = (DUPLICATE, NULL_TEXT, NULL_ID)
"""Counted as `tokenize_dropped_<reason>`: a second document with the same id and the same text; a row
whose text or id is null (Parquet written by other tools: a build writes neither)."""
TEXT_TYPES = ("string", "large_string")

Key = tuple[str, str]
"""(document id, hash of its text): sorts by id; the text breaks ties between equal ids deterministically."""


def output_name(split: str, index: int) -> str:
    """llm.c's naming (fineweb_train_000001.bin), numbered from 0 in each split."""
    return f"{OUTPUT_PREFIX}_{split}_{index:06d}.bin"


def split_hash(document_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest(), "big")


# ---------------------------------------------------------------------- steps


class TokenizeFn(beam.DoFn):
    """A row {id, text} -> (key, its tokens as uint16, starting with <|endoftext|>)."""

    def __init__(self, encoding: bpe.Encoding):
        self.encoding = encoding  # pickled into the job, so workers need no copy of the vocabulary files

    def process(self, row: dict) -> Iterator[tuple[Key, np.ndarray]]:
        text = row["text"]
        if text is None or row["id"] is None:
            count(f"tokenize_dropped_{NULL_TEXT if text is None else NULL_ID}")
            return
        tokens = np.array([self.encoding.eot_token, *self.encoding.encode_ordinary(text)], dtype=TOKEN_DTYPE)
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
        yield (row["id"], digest), tokens


def plan_offsets(
    counts: Iterable[tuple[Key, int]], val_fraction: float
) -> Iterator[tuple[Key, tuple[str, int]]]:
    """(key, token count) of every document -> (key, (split, offset of its first token in the split))."""
    counts = dict(counts)  # a duplicate key is the same text twice: JoinOffsets keeps one
    threshold = val_fraction * 2**64
    hashes = {key: split_hash(key[0]) for key in counts}
    val = {key for key, value in hashes.items() if value < threshold}
    if not val and val_fraction > 0 and len(counts) > 1:
        val = {min(hashes, key=lambda key: (hashes[key], key))}
    offsets = dict.fromkeys(SPLITS, 0)
    for key in sorted(counts):
        split = VAL if key in val else TRAIN
        count(f"tokenize_documents_{split}")
        yield key, (split, offsets[split])
        offsets[split] += counts[key]


def cut_shards(
    element: tuple[Key, dict[str, list]], shard_tokens: int
) -> Iterator[tuple[tuple[str, int], tuple[int, np.ndarray]]]:
    """A document's tokens at their offset -> ((split, shard index), (offset in the shard, the piece))."""
    _, joined = element
    tokens, ((split, start),) = joined["tokens"][0], joined["offset"]
    if len(joined["tokens"]) > 1:
        count(f"tokenize_dropped_{DUPLICATE}", len(joined["tokens"]) - 1)
    position = start
    while position < start + len(tokens):
        index, in_shard = divmod(position, shard_tokens)
        end = min(start + len(tokens), (index + 1) * shard_tokens)
        yield (split, index), (in_shard, tokens[position - start : end - start])
        position = end


def write_shard(shard: tuple[tuple[str, int], Iterable[tuple[int, np.ndarray]]], directory: str) -> dict:
    """Joins a shard's pieces in order and writes it under a temporary name, then renames it; returns its
    manifest record (name, bytes, sha256, tokens)."""
    (split, index), pieces = shard
    pieces = sorted(pieces, key=lambda piece: piece[0])
    starts = np.cumsum([0] + [len(tokens) for _, tokens in pieces[:-1]])
    if [offset for offset, _ in pieces] != starts.tolist():
        raise RuntimeError(f"{output_name(split, index)}: pieces do not tile the shard: a bug in cut_shards")
    tokens = np.concatenate([tokens for _, tokens in pieces])
    record, written = write_atomically(
        directory, output_name(split, index), lambda stream: write_tokens(stream, tokens)
    )
    count(f"tokenize_tokens_{split}", written)
    return {**record, "tokens": written}


def tokenize(
    pipeline: beam.Pipeline,
    pattern: str,
    out: str,
    encoding: bpe.Encoding,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    val_fraction: float = DEFAULT_VAL_FRACTION,
) -> None:
    tokens = (
        pipeline
        | "ReadFromParquet" >> beam.io.ReadFromParquet(pattern, columns=["id", "text"])
        | "Tokenize" >> beam.ParDo(TokenizeFn(encoding))
    )
    offsets = (
        tokens
        | "Counts" >> beam.MapTuple(lambda key, ids: (key, len(ids)))
        | "AllCounts" >> beam.combiners.ToList()
        | "PlanOffsets" >> beam.FlatMap(plan_offsets, val_fraction)
    )
    (
        {"tokens": tokens, "offset": offsets}
        | "JoinOffsets" >> beam.CoGroupByKey()
        | "CutShards" >> beam.FlatMap(cut_shards, shard_tokens)
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteShards" >> beam.Map(write_shard, out)
        | "Manifest" >> WriteManifest(out)
    )


# ---------------------------------------------------------------------- running


def run(
    shards: str,
    vocab: str | os.PathLike,
    out: str,
    *,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    pipeline_args: Sequence[str] = (),
    allow_incomplete: bool = False,
) -> dict:
    """Tokenize the documents-*.parquet shards in directory `shards` into `out` with `vocab` (a packaged
    encoding's name or a vocabulary directory); returns the summary that is also written to
    `out`/tokenize.json, with the vocabulary's record (`bpe.registry.describe`) and the shards' manifest.
    Raises ValueError for bad settings or input (IncompleteOutputError: shards its stats.json does not
    vouch for, unless `allow_incomplete`; a shard without a string text column), OSError for missing input
    or an output directory that already holds token shards."""
    if not 0 < shard_tokens <= MAX_TOKENS:
        raise ValueError(f"--shard-tokens must be in 1..{MAX_TOKENS:,}, not {shard_tokens:,}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"--val-fraction must be in [0, 1), not {val_fraction}")
    encoding = bpe.resolve(vocab)
    if encoding.n_vocab > 1 << 16:
        raise ValueError(f"{vocab}: {encoding.n_vocab:,} tokens do not fit llm.c's uint16 shards")
    if bpe.ENDOFTEXT not in encoding.special_tokens:
        raise ValueError(f"{vocab}: the vocabulary has no {bpe.ENDOFTEXT} token to separate documents")
    # Shards of an earlier run with another --shard-tokens would mix with this run's.
    prepare_output(out, [OUTPUT_GLOB], SUMMARY_FILE, "token shards")
    paths = checked_inputs(shards, SHARD_GLOB, STATS_FILE, "a build's", "webtext build", allow_incomplete)
    for path in paths:
        check_columns(path)
    started = time.time()
    pipeline = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    tokenize(pipeline, FileSystems.join(shards, SHARD_GLOB), out, encoding, shard_tokens, val_fraction)
    result = run_pipeline(pipeline)
    counters = read_counters(result)
    written = finish_manifest(out, OUTPUT_GLOB)
    names = [record["name"] for record in written["files"]]
    summary = {
        "documents": {split: counters.get(f"tokenize_documents_{split}", 0) for split in SPLITS},
        "tokens": {split: counters.get(f"tokenize_tokens_{split}", 0) for split in SPLITS},
        "shards": {
            split: [name for name in names if name.startswith(f"{OUTPUT_PREFIX}_{split}_")]
            for split in SPLITS
        },
        "dropped": {reason: counters.get(f"tokenize_dropped_{reason}", 0) for reason in TOKENIZE_REASONS},
        "shard_tokens": shard_tokens,
        "val_fraction": val_fraction,
        "vocab": describe(encoding, source_of(vocab)),
        "seconds": round(time.time() - started, 1),
        MANIFEST_KEY: written,
    }
    write_summary(out, SUMMARY_FILE, summary)  # last: it makes the shards a complete set
    return summary


def check_columns(path: str) -> None:
    """ValueError unless the Parquet file at `path` has string `id` and `text` columns: found now, not as
    a worker's KeyError after the job has started."""
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            schema = pq.read_schema(stream)
    except pa.ArrowInvalid as error:
        raise ValueError(f"{path}: not a Parquet file ({error})") from None
    for column in ("id", "text"):
        if column not in schema.names:
            raise ValueError(f"{path}: no {column!r} column (it has {', '.join(schema.names)})")
        kind = str(schema.field(column).type)
        if kind not in TEXT_TYPES:
            raise ValueError(f"{path}: the {column!r} column holds {kind}, not strings")
