"""Open plain or compressed files by suffix, streaming: .gz, .bz2, .xz, .zst.

A file that ends before its compressed stream does raises EOFError, whatever the codec (gzip, bz2 and lzma
do; zstandard's stream reader would stop quietly, so .zst is read frame by frame here). Pushshift's .zst
dumps were written with a long window, so zstd reads with a 2 GiB window limit.
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
    (the decompressing readers leave it open)."""
    if name.endswith(".gz"):
        return gzip.open(stream, "rb")
    if name.endswith(".bz2"):
        return bz2.open(stream, "rb")
    if name.endswith(".xz"):
        return lzma.open(stream, "rb")
    if name.endswith(".zst"):
        return io.BufferedReader(ZstdFrames(stream))
    return stream


class ZstdFrames(io.RawIOBase):
    """The decompressed bytes of a stream of zstd frames; EOFError where the input ends inside a frame.

    zstd has no marker after its last frame, so only a cut inside a frame shows: a multi-frame file cut
    exactly between two frames reads as its whole frames. Output is held one input chunk's worth at a time.
    """

    def __init__(self, source: BinaryIO):
        super().__init__()
        self._source = source
        self._decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        self._frame: zstandard.ZstdDecompressionObj | None = None  # None between frames
        self._input = b""  # read past the end of the last frame, not yet decompressed
        self._output = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._output:
            if not self._decompress_more():
                return 0
        size = min(len(buffer), len(self._output))
        buffer[:size] = self._output[:size]
        self._output = self._output[size:]
        return size

    def _decompress_more(self) -> bool:
        """Decompress the next chunk of input; False at the end of the input after a whole frame."""
        data = self._input or self._source.read(zstandard.DECOMPRESSION_RECOMMENDED_INPUT_SIZE)
        self._input = b""
        if not data:
            if self._frame is not None:
                raise EOFError("zstd: the input ends inside a frame (a truncated file)")
            return False
        if self._frame is None:
            self._frame = self._decompressor.decompressobj()
        self._output = memoryview(self._frame.decompress(data))
        if self._frame.eof:
            self._input, self._frame = self._frame.unused_data, None
        return True
