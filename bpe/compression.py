"""Open plain or compressed files by suffix, streaming: .gz, .bz2, .xz, .zst.

Pushshift's .zst dumps were written with a long window, so zstd reads with a 2 GiB window limit.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from typing import BinaryIO

import zstandard

ZSTD_MAX_WINDOW = 1 << 31
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
DECOMPRESSION_ERRORS = (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError)
"""What reading a corrupt or truncated file raises (gzip's and bz2's errors are OSErrors)."""


def strip_compression(name: str) -> str:
    """'a.jsonl.zst' -> 'a.jsonl'."""
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def decompressing(stream: BinaryIO, name: str) -> BinaryIO:
    """A decompressing reader over `stream`, chosen by the suffix of `name`. The caller closes `stream`
    (gzip, bz2 and lzma readers leave it open)."""
    if name.endswith(".gz"):
        return gzip.open(stream, "rb")
    if name.endswith(".bz2"):
        return bz2.open(stream, "rb")
    if name.endswith(".xz"):
        return lzma.open(stream, "rb")
    if name.endswith(".zst"):
        reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
            stream, closefd=True
        )
        return io.BufferedReader(reader)
    return stream
