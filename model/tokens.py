"""Token shards in llm.c's format, so that llm.c and modded-nanogpt train on our files as they are.

A shard is a header of 256 little-endian int32 (magic 20240520, version 1, token count, zeros), then the
tokens as little-endian uint16: the layout of llm.c's `dev/data/data_common.py` `write_datafile` for GPT-2.
A reader checks the header and the file's size before it trusts either, since a shard cut short by a
full disk or a copy still in progress would otherwise train on garbage without a word.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from bpe.manifest import check_directory
from model.files import write_atomically

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_DTYPE = np.dtype("<u2")
MAX_TOKENS = 2**31 - 1
"""The header stores the count as an int32."""
LLAMA3_MAGIC = 20240801
"""llm.c's other format (uint32 tokens, version 7); named in the error when someone hands us one."""
SUMMARY_FILE = "tokenize.json"
"""What `webtext tokenize` writes beside the shards, last: counts, the record of the vocabulary it used, and
the manifest of the shards (`bpe.manifest`)."""
SHARD_GLOB = "webtext_*.bin"
"""The shards of a `webtext tokenize` output directory (pipelines.tokenize.OUTPUT_GLOB)."""


class TokenShardError(ValueError):
    """A file that is not a whole GPT-2 token shard, or tokens that cannot be written as one."""


def shard_header(count: int) -> bytes:
    if not 0 <= count <= MAX_TOKENS:
        raise TokenShardError(f"{count:,} tokens do not fit one shard (at most {MAX_TOKENS:,})")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = MAGIC, VERSION, count
    return header.tobytes()


def as_shard_tokens(tokens: np.ndarray) -> np.ndarray:
    """`tokens` as little-endian uint16, refusing ids a uint16 would silently wrap."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or (tokens.size and tokens.dtype.kind not in "iu"):
        raise TokenShardError(f"tokens must be a 1-D array of integer ids, not {tokens.dtype} {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= 1 << 16):
        raise TokenShardError(
            f"token ids must be in 0..65535 to be stored as uint16; got {tokens.min()}..{tokens.max()}"
        )
    return tokens.astype(TOKEN_DTYPE, copy=False)


def write_tokens(stream: BinaryIO, tokens: np.ndarray) -> int:
    """Writes one whole shard to an open stream (any filesystem's); returns the token count."""
    tokens = as_shard_tokens(tokens)
    stream.write(shard_header(len(tokens)))
    stream.write(tokens.tobytes())
    return len(tokens)


def write_shard(path: str | os.PathLike, tokens: np.ndarray) -> None:
    """Writes a shard under a temporary name beside `path` and renames it, so no reader sees half a shard."""
    tokens = as_shard_tokens(tokens)  # fail before creating anything
    write_atomically(path, lambda stream: write_tokens(stream, tokens))


def read_header(path: str | os.PathLike) -> int:
    """The token count of the shard at `path`, after checking its magic, version and size."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < HEADER_BYTES:
            raise TokenShardError(
                f"{path}: {size} bytes, too small for the {HEADER_BYTES}-byte header of a token shard"
            )
        magic, version, count = np.frombuffer(f.read(HEADER_BYTES), dtype="<i4")[:3].tolist()
    if magic != MAGIC:
        kind = "llm.c's Llama 3 format (uint32 tokens)" if magic == LLAMA3_MAGIC else "not a token shard"
        raise TokenShardError(f"{path}: bad magic number {magic} (expected {MAGIC}): {kind}")
    if version != VERSION:
        raise TokenShardError(
            f"{path}: unsupported version {version} (this reader knows version {VERSION}, uint16 tokens)"
        )
    if count < 0:
        raise TokenShardError(f"{path}: the header's token count is negative ({count})")
    expected = HEADER_BYTES + count * TOKEN_DTYPE.itemsize
    if size < expected:
        raise TokenShardError(
            f"{path}: truncated: the header announces {count:,} tokens ({expected:,} bytes with the "
            f"header) but the file has {size:,} bytes"
        )
    if size > expected:
        raise TokenShardError(
            f"{path}: {size - expected:,} trailing bytes after the {count:,} tokens the header announces"
        )
    return count


def load_shard(path: str | os.PathLike) -> np.ndarray:
    """The tokens of the shard at `path`, checked, as a read-only memory map (uint16)."""
    count = read_header(path)
    if count == 0:
        return np.empty(0, dtype=TOKEN_DTYPE)  # mmap cannot map zero bytes
    return np.memmap(path, dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(count,))


def read_vocab_record(directory: str | os.PathLike) -> dict | None:
    """The record of the vocabulary that `webtext tokenize` used for the shards in `directory`
    (`bpe.registry.describe`); None where there is none (shards written by other tools, older runs)."""
    path = Path(directory) / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise TokenShardError(f"{path}: not a readable tokenize summary ({error})") from None
    record = summary.get("vocab") if isinstance(summary, dict) else None
    return record if isinstance(record, dict) and isinstance(record.get("n_vocab"), int) else None


def check_complete(directory: str | os.PathLike) -> None:
    """IncompleteOutputError unless `directory` holds exactly the token shards its tokenize.json lists, at
    their sizes: a killed or disk-full `tokenize` leaves shards under their final names and no summary."""
    check_directory(directory, SUMMARY_FILE, SHARD_GLOB, "token", "webtext tokenize")
