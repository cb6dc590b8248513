"""Vocabularies by name or directory, and the record that tells later whether a vocabulary is the same one.

GPT-2's encoding ships inside the package (`bpe/data/gpt2`: OpenAI's `encoder.json` and `vocab.bpe`,
byte for byte), so nothing is downloaded on first use and nothing has to sit beside a clone. tiktoken
fetches its files on first use and caches them; offline machines and fresh containers are where that
fails, and a tokenizer is too small to be worth the risk.

Token shards and checkpoints store a *record* of the vocabulary they were made with (`describe`): its
name, where it came from, its size, its end-of-text id and its fingerprint. `check_same` compares two
records, so that a model is never fed ids of another vocabulary without a clear error.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from bpe.encoding import ENDOFTEXT, Encoding
from bpe.files import VocabFileError, read_vocab_files
from bpe.pretokenize import GPT2_PATTERN

DATA_DIR = Path(__file__).with_name("data")
PACKAGED: dict[str, dict[str, str]] = {
    "gpt2": {
        "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    },
}
"""Packaged encodings and the sha256 of their files (for gpt2, the digests tiktoken pins)."""
DEFAULT_ENCODING = "gpt2"


class VocabMismatchError(ValueError):
    """A vocabulary is not the one that token shards or a model were made with."""


def list_encoding_names() -> list[str]:
    return sorted(PACKAGED)


def encoding_dir(name: str) -> Path:
    """The directory of a packaged encoding's files."""
    if name not in PACKAGED:
        raise ValueError(
            f"unknown encoding {name!r}; packaged: {', '.join(list_encoding_names())} "
            "(any other vocabulary loads from its directory with bpe.load)"
        )
    return DATA_DIR / name


@functools.cache
def get_encoding(name: str) -> Encoding:
    """A packaged encoding by name ("gpt2", as tiktoken names it); its files' sha256 is checked once."""
    directory = encoding_dir(name)
    for file, expected in PACKAGED[name].items():
        path = directory / file
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            raise VocabFileError(path, None, f"unreadable ({error.strerror}): reinstall webtext") from None
        if digest != expected:
            raise VocabFileError(path, None, f"sha256 is {digest}, not {expected}: reinstall webtext")
    return load(directory, name=name)


def load(path: str | os.PathLike, *, pat_str: str | None = None, name: str | None = None) -> Encoding:
    """Load a vocabulary directory: OpenAI's `encoder.json` + `vocab.bpe` (GPT-2's files, `bpe train`
    output), or what HF writes (`tokenizer.json`, or `vocab.json` + `merges.txt`).

    pat_str defaults to the pattern `tokenizer.json` names, else GPT-2's.
    """
    files = read_vocab_files(path)
    return Encoding(
        name or Path(path).resolve().name,
        pat_str=pat_str or files.pattern or GPT2_PATTERN,
        vocab=files.vocab,
        merges=files.merges,
        special_tokens=files.special_tokens,
    )


def resolve(spec: str | os.PathLike) -> Encoding:
    """What every `--vocab` takes: a packaged encoding's name (gpt2), or a vocabulary directory.

    A bare name of a packaged encoding is that encoding even if a directory of that name exists here;
    write ./gpt2 for the directory.
    """
    if isinstance(spec, str) and spec in PACKAGED:
        return get_encoding(spec)
    if not os.path.isdir(spec):
        raise VocabFileError(
            spec,
            None,
            f"neither a packaged encoding ({', '.join(list_encoding_names())}) nor a vocabulary directory",
        )
    return load(spec)


def source_of(spec: str | os.PathLike) -> str:
    """How a record names where a vocabulary came from: its name, or its directory's absolute path."""
    return spec if isinstance(spec, str) and spec in PACKAGED else str(Path(spec).resolve())


def describe(encoding: Encoding, source: str) -> dict:
    """The record of a vocabulary that token shards and checkpoints keep (JSON-ready)."""
    return {
        "name": encoding.name,
        "source": source,
        "n_vocab": encoding.n_vocab,
        "eot_token": encoding.special_tokens.get(ENDOFTEXT),
        "sha256": encoding.fingerprint,
    }


def check_same(used: dict, expected: dict, what: str, hint: str = "") -> None:
    """Raises VocabMismatchError unless the record `used` is the vocabulary of `expected` (`what`'s)."""
    keys = ("sha256",) if used.get("sha256") and expected.get("sha256") else ("n_vocab", "eot_token")
    if any(used.get(key) != expected.get(key) for key in keys):
        raise VocabMismatchError(
            f"{what}: made with the vocabulary {_label(expected)}, not {_label(used)}"
            + (f": {hint}" if hint else "")
        )


def from_record(record: dict, what: str) -> Encoding:
    """The vocabulary a record describes, loaded from where it came from and checked to be the same."""
    source = record.get("source")
    try:
        encoding = resolve(source)
    except (TypeError, VocabFileError) as error:
        raise VocabMismatchError(
            f"{what}: made with the vocabulary {_label(record)}, which is not at {source!r} any more "
            f"({error}): give it with --vocab DIR"
        ) from None
    check_same(describe(encoding, source), record, what, "give it with --vocab DIR")
    return encoding


def _label(record: dict) -> str:
    sha = record.get("sha256")
    return (
        f"{record.get('name')!r} ({record.get('n_vocab'):,} tokens"
        + (f", sha256 {sha[:12]}" if sha else "")
        + f", from {record.get('source')})"
    )
