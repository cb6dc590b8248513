"""Documents from files: plain text, JSONL with a text field (optionally compressed), Parquet shards.

The unit is the whole document, as in GPT-2: a text file is one document, a JSONL line is one, a
Parquet row is one. Undecodable bytes are replaced with U+FFFD and counted, never fatal; a null text
(a Parquet null, JSON's null) is skipped and counted.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bpe.compression import COMPRESSED_SUFFIXES, DECOMPRESSION_ERRORS, decompressing, strip_compression
from bpe.manifest import IncompleteOutputError, check_directory

TEXT_SUFFIXES = (".txt", ".text", ".md", ".rst")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet",)
FORMATS = ("auto", "text", "jsonl", "parquet")
BUILD_SUMMARY = "stats.json"
BUILD_SHARDS = "documents-*-of-*.parquet"
"""A build's summary and shards (webtext.shards.STATS_FILE and SHARD_GLOB, spelled here: bpe imports
nothing of ours; a test checks they agree)."""


class CorpusError(ValueError):
    """An input that cannot be read; the message names the path (and line, where there is one)."""


@dataclass
class CorpusStats:
    files: int = 0
    documents: int = 0
    bytes: int = 0
    documents_with_replaced_bytes: int = 0
    null_texts_skipped: int = 0


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files, directories (recursively) and globs -> a sorted, de-duplicated file list.

    A `webtext build` output directory (one holding stats.json, or shards named as a build names them)
    stands for the Parquet shards at its top, not for its stats.json, dropped/ and warc/, and only when its
    manifest vouches for them (`bpe.manifest`): a killed build's shards are refused. A glob naming the
    shards reads them as they are.
    """
    files: list[Path] = []
    for item in map(os.fspath, inputs):
        is_build = os.path.isdir(item) and (
            os.path.isfile(os.path.join(item, BUILD_SUMMARY))
            or bool(glob.glob(os.path.join(glob.escape(item), BUILD_SHARDS)))
        )
        if is_build:
            try:
                found = check_directory(
                    item,
                    BUILD_SUMMARY,
                    BUILD_SHARDS,
                    "a build's",
                    "webtext build",
                    anyway=f"name its shards with a glob ({os.path.join(item, BUILD_SHARDS)}) to read them as "
                    "they are",
                )
            except IncompleteOutputError as error:
                raise CorpusError(str(error)) from None
        elif os.path.isdir(item):
            found = [
                p
                for p in Path(item).rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(item).parts)
            ]
        elif glob.has_magic(item):
            found = [Path(p) for p in glob.glob(item, recursive=True) if os.path.isfile(p)]
        elif os.path.isfile(item):
            found = [Path(item)]
        else:
            raise CorpusError(f"{item}: no such file or directory")
        if not found:
            raise CorpusError(f"{item}: no files match")
        files += sorted(found)
    return list(dict.fromkeys(files))


def detect_format(path: Path) -> str:
    if path.name.lower().endswith(tuple(f"{s}{c}" for s in PARQUET_SUFFIXES for c in COMPRESSED_SUFFIXES)):
        raise CorpusError(f"{path}: Parquet compresses its own pages; decompress the file first")
    name = strip_compression(path.name.lower())
    for fmt, suffixes in (("text", TEXT_SUFFIXES), ("jsonl", JSONL_SUFFIXES), ("parquet", PARQUET_SUFFIXES)):
        if name.endswith(suffixes):
            return fmt
    raise CorpusError(
        f"{path}: unknown format (known: {', '.join(TEXT_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES)}, "
        "optionally .gz/.bz2/.xz/.zst); pass the format explicitly to read it anyway"
    )


def iter_documents(
    inputs: Sequence[str | os.PathLike],
    *,
    text_field: str = "text",
    fmt: str = "auto",
    stats: CorpusStats | None = None,
) -> Iterator[str]:
    """Stream documents from `inputs`, one file at a time; never holds the corpus."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    stats = stats if stats is not None else CorpusStats()
    for path in expand_inputs(inputs):
        file_format = detect_format(path) if fmt == "auto" else fmt
        stats.files += 1
        try:
            with open(path, "rb") as raw:
                for document in read_documents(raw, str(path), file_format, text_field):
                    if document is None:
                        stats.null_texts_skipped += 1
                        continue
                    text, replaced = decode_document(document)
                    stats.documents += 1
                    stats.documents_with_replaced_bytes += replaced
                    stats.bytes += document_bytes(document)
                    yield text
        except DECOMPRESSION_ERRORS as error:
            raise CorpusError(f"{path}: cannot read ({type(error).__name__}: {error})") from error


def read_documents(
    raw: BinaryIO, name: str, fmt: str, text_field: str = "text"
) -> Iterator[bytes | str | None]:
    """The documents in one opened file (still compressed, as stored): bytes from text files, str from
    JSONL and Parquet, None for a null text, which the caller counts. `name` picks the decompression and
    labels errors; Beam pipelines call this too."""
    reader = {"text": _read_text, "jsonl": _read_jsonl, "parquet": _read_parquet}[fmt]
    return reader(raw, name, text_field)


class _ReplacedText(str):
    """Text from a record whose bytes were not valid UTF-8 (replaced with U+FFFD while parsing)."""


def decode_document(document: bytes | str) -> tuple[str, bool]:
    """(text, whether invalid UTF-8 was replaced with U+FFFD)."""
    if isinstance(document, _ReplacedText):
        return str(document), True
    if isinstance(document, str):
        return document, False
    try:
        return document.decode("utf-8"), False
    except UnicodeDecodeError:
        return document.decode("utf-8", "replace"), True


def document_bytes(document: bytes | str) -> int:
    """Size of a document as stored: its bytes, or its text's UTF-8 length (lone surrogates included)."""
    if isinstance(document, bytes):
        return len(document)
    return len(document.encode("utf-8", "surrogatepass"))


def _read_text(raw: BinaryIO, name: str, text_field: str) -> Iterator[bytes]:
    with decompressing(raw, name) as stream:
        yield stream.read()


def _read_jsonl(raw: BinaryIO, name: str, text_field: str) -> Iterator[str | None]:
    with decompressing(raw, name) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            replaced = False
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                line, replaced = line.decode("utf-8", "replace"), True
            try:
                record = json.loads(line)
            except ValueError as error:
                raise CorpusError(f"{name}:{number}: invalid JSON ({error})") from None
            except RecursionError:
                raise CorpusError(f"{name}:{number}: invalid JSON (nested too deeply to parse)") from None
            text = record.get(text_field, ...) if isinstance(record, dict) else ...
            if text is None:  # JSON's null, as a Parquet null
                yield None
            elif isinstance(text, str):
                yield _ReplacedText(text) if replaced else text
            else:
                raise CorpusError(f"{name}:{number}: no string field {text_field!r}")


def _read_parquet(raw: BinaryIO, name: str, text_field: str) -> Iterator[str | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(raw)
    except Exception as error:  # pyarrow raises several types for a bad file
        raise CorpusError(f"{name}: not a readable Parquet file ({error})") from error
    if text_field not in parquet.schema_arrow.names:
        raise CorpusError(f"{name}: no column {text_field!r} (columns: {parquet.schema_arrow.names})")
    column_type = parquet.schema_arrow.field(text_field).type
    if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
        raise CorpusError(f"{name}: column {text_field!r} holds {column_type}, not text")
    for batch in parquet.iter_batches(columns=[text_field], batch_size=1024):
        yield from batch.column(0).to_pylist()


def count_tokens(
    encoding,
    inputs: Sequence[str | os.PathLike],
    text_field: str = "text",
    fmt: str = "auto",
    num_workers: int | None = None,
    progress: bool = False,
) -> dict:
    """Documents, bytes and tokens of `inputs` under `encoding` (an `bpe.Encoding`), with bytes/token.

    Documents are encoded in batches of ~8 MB of text, so memory stays flat on any corpus size."""
    import sys
    import time

    from tqdm import tqdm

    stats = CorpusStats()
    tokens = 0
    started = time.perf_counter()
    batch: list[str] = []
    batch_chars = 0
    with tqdm(unit="doc", desc="encoding", disable=None if progress else True, file=sys.stderr) as bar:
        for text in iter_documents(inputs, text_field=text_field, fmt=fmt, stats=stats):
            batch.append(text)
            batch_chars += len(text)
            if batch_chars >= 1 << 23:
                tokens += sum(map(len, encoding.encode_ordinary_batch(batch, num_workers=num_workers)))
                bar.update(len(batch))
                batch, batch_chars = [], 0
        tokens += sum(map(len, encoding.encode_ordinary_batch(batch, num_workers=num_workers)))
        bar.update(len(batch))
    return {
        "files": stats.files,
        "documents": stats.documents,
        "bytes": stats.bytes,
        "tokens": tokens,
        "bytes_per_token": round(stats.bytes / tokens, 4) if tokens else None,
        "documents_with_replaced_bytes": stats.documents_with_replaced_bytes,
        "null_texts_skipped": stats.null_texts_skipped,
        "seconds": round(time.perf_counter() - started, 3),
    }
