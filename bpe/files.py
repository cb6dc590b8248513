"""GPT-2's vocabulary files: `encoder.json` (token -> id) and `vocab.bpe` (merges in rank order).

Both files spell a token's bytes with GPT-2's `bytes_to_unicode` table, which maps every byte to a
printable character (space -> 'Ġ', newline -> 'Ċ') so that merges can be written one per line.
Reading validates everything an encoder relies on and names the file and line of the first fault,
because a silently truncated vocabulary would produce wrong ids forever after.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

ENCODER_FILE = "encoder.json"
MERGES_FILE = "vocab.bpe"
MERGES_HEADER = "#version: 0.2"

# A token in encoder.json that no byte or merge produces is a special token; it must look like one
# (`<|endoftext|>`, `<pad>`), otherwise the merges file is most likely truncated.
SPECIAL_TOKEN_SHAPE = re.compile(r"<[^<>\s]+>")


_PRINTABLE = (*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256))

GPT2_BYTE_ORDER: tuple[int, ...] = _PRINTABLE + tuple(b for b in range(256) if b not in _PRINTABLE)
"""Byte values in the order of GPT-2's first 256 ids (id i is the single byte GPT2_BYTE_ORDER[i])."""


def _byte_to_char() -> dict[int, str]:
    """Printable bytes stand for themselves; the other 68 take the characters from U+0100 on."""
    unprintable = GPT2_BYTE_ORDER[len(_PRINTABLE) :]
    return {**{b: chr(b) for b in _PRINTABLE}, **{b: chr(256 + i) for i, b in enumerate(unprintable)}}


BYTE_TO_CHAR: dict[int, str] = _byte_to_char()
CHAR_TO_BYTE: dict[str, int] = {c: b for b, c in BYTE_TO_CHAR.items()}


class VocabFileError(ValueError):
    """A vocabulary file is missing, malformed or inconsistent; the message names file and line."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def token_to_str(token: bytes) -> str:
    """Render token bytes the way GPT-2's files spell them."""
    return "".join(map(BYTE_TO_CHAR.__getitem__, token))


# str.translate table for `str_to_token`: byte-table characters become Latin-1 characters, the other
# Latin-1 characters become U+FFFF so that the final Latin-1 encoding rejects them.
_TO_LATIN1 = {**{c: 0xFFFF for c in range(256)}, **{ord(char): byte for char, byte in CHAR_TO_BYTE.items()}}


def str_to_token(text: str) -> bytes | None:
    """Inverse of `token_to_str`; None when `text` uses a character outside the byte table."""
    try:
        return text.translate(_TO_LATIN1).encode("latin-1")
    except UnicodeEncodeError:
        return None


@dataclass(frozen=True)
class VocabFiles:
    """The content of a vocabulary directory, in bytes rather than GPT-2's character spelling."""

    vocab: dict[bytes, int]
    """Every ordinary token (256 bytes and each merge result) -> id."""
    merges: list[tuple[bytes, bytes]]
    """Merges in rank order."""
    special_tokens: dict[str, int]


def _json_line(text: str, key: str) -> int | None:
    """Line of `key` in encoder.json's text, for error messages only."""
    index = text.find(json.dumps(key) + ":")
    return text.count("\n", 0, index) + 1 if index >= 0 else None


def read_vocab_files(directory: str | os.PathLike) -> VocabFiles:
    """Read and validate `encoder.json` + `vocab.bpe` from `directory`."""
    directory = Path(directory)
    encoder_path, merges_path = directory / ENCODER_FILE, directory / MERGES_FILE
    for path in (encoder_path, merges_path):
        if not path.is_file():
            raise VocabFileError(
                path, None, f"not found (a vocabulary directory holds {ENCODER_FILE} and {MERGES_FILE})"
            )

    encoder_text = _read_utf8(encoder_path)
    try:
        encoder = json.loads(encoder_text)
    except json.JSONDecodeError as error:
        raise VocabFileError(
            encoder_path, error.lineno, f"invalid JSON ({error.msg}, column {error.colno})"
        ) from None
    if not isinstance(encoder, dict) or not encoder:
        raise VocabFileError(encoder_path, 1, "expected a non-empty JSON object mapping token -> id")

    seen_ids: dict[int, str] = {}
    for key, value in encoder.items():
        if type(value) is not int or value < 0:
            raise VocabFileError(
                encoder_path, _json_line(encoder_text, key), f"id of {key!r} is {value!r}, not an int >= 0"
            )
        if value in seen_ids:
            raise VocabFileError(
                encoder_path,
                _json_line(encoder_text, key),
                f"id {value} is used by both {seen_ids[value]!r} and {key!r}",
            )
        seen_ids[value] = key

    vocab: dict[bytes, int] = {}
    for byte in range(256):
        char = BYTE_TO_CHAR[byte]
        if char not in encoder:
            raise VocabFileError(encoder_path, None, f"byte token {char!r} (byte {byte}) is missing")
        vocab[bytes([byte])] = encoder[char]

    tokens = {key: str_to_token(key) for key in encoder}
    merges = _read_merges(merges_path, encoder, tokens, vocab)

    special_tokens: dict[str, int] = {}
    for key, value in encoder.items():
        token = tokens[key]
        if token is not None and token in vocab:
            continue
        if not SPECIAL_TOKEN_SHAPE.fullmatch(key):
            raise VocabFileError(
                encoder_path,
                _json_line(encoder_text, key),
                f"token {key!r} (id {value}) is neither a byte, a merge in {merges_path}, nor a special token "
                f"like <|endoftext|> (is {MERGES_FILE} truncated?)",
            )
        special_tokens[key] = value
    return VocabFiles(vocab=vocab, merges=merges, special_tokens=special_tokens)


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise VocabFileError(path, line, f"not valid UTF-8 ({error.reason})") from None


def _read_merges(
    path: Path, encoder: dict[str, int], tokens: dict[str, bytes | None], vocab: dict[bytes, int]
) -> list[tuple[bytes, bytes]]:
    """Parse merges in order; `vocab` (bytes so far) grows by each merge's result."""
    lines = _read_utf8(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    start = 1 if lines and lines[0].startswith("#version") else 0
    merges: list[tuple[bytes, bytes]] = []
    produced_on: dict[bytes, int] = {}
    for number, line in enumerate(lines[start:], start=start + 1):
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise VocabFileError(path, number, f"expected two tokens separated by one space, got {line!r}")
        left, right = tokens.get(parts[0]), tokens.get(parts[1])
        for part, token in zip(parts, (left, right)):
            if token is None or token not in vocab:
                raise VocabFileError(
                    path, number, f"{part!r} is not a byte or the result of an earlier merge"
                )
        merged = left + right
        if merged in produced_on:
            raise VocabFileError(
                path,
                number,
                f"merge {line!r} produces {token_to_str(merged)!r}, already produced on line {produced_on[merged]}",
            )
        spelled = parts[0] + parts[1]
        if spelled not in encoder:
            raise VocabFileError(
                path, number, f"the result of merge {line!r}, {spelled!r}, is not in {ENCODER_FILE}"
            )
        vocab[merged] = encoder[spelled]
        produced_on[merged] = number
        merges.append((left, right))
    return merges


def write_vocab_files(
    directory: str | os.PathLike,
    vocab: dict[bytes, int],
    merges: list[tuple[bytes, bytes]],
    special_tokens: dict[str, int],
) -> None:
    """Write the two files exactly as OpenAI's: json.dumps' default spelling, a header, one merge a line."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    encoder = {token_to_str(token): token_id for token, token_id in vocab.items()}
    encoder.update(special_tokens)
    encoder = dict(sorted(encoder.items(), key=lambda item: item[1]))
    lines = [MERGES_HEADER, *(f"{token_to_str(a)} {token_to_str(b)}" for a, b in merges)]
    _write_atomic(directory / ENCODER_FILE, json.dumps(encoder).encode("utf-8"))
    _write_atomic(directory / MERGES_FILE, ("\n".join(lines) + "\n").encode("utf-8"))


HF_TOKENIZER_FILE = "tokenizer.json"


def write_hf_tokenizer(
    directory: str | os.PathLike,
    vocab: dict[bytes, int],
    merges: list[tuple[bytes, bytes]],
    special_tokens: dict[str, int],
    pattern: str,
    gpt2_pattern: bool,
) -> None:
    """Write HF tokenizers' `tokenizer.json`: a byte-level BPE with the same ids and merges.

    GPT-2's own pattern is HF's `ByteLevel(use_regex=True)`; another pattern becomes a `Split` step
    in front of a `ByteLevel` that only maps bytes.
    """
    byte_level = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": gpt2_pattern,
    }
    if gpt2_pattern:
        pre_tokenizer: dict = byte_level
    else:
        split = {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [split, byte_level]}
    added = [
        {"id": token_id, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for token, token_id in sorted(special_tokens.items(), key=lambda item: item[1])
    ]  # fmt: skip
    model = {
        "type": "BPE",
        "dropout": None,
        "unk_token": None,
        "continuing_subword_prefix": "",
        "end_of_word_suffix": "",
        "fuse_unk": False,
        "byte_fallback": False,
        "ignore_merges": False,
        "vocab": {
            token_to_str(token): token_id for token, token_id in sorted(vocab.items(), key=lambda i: i[1])
        },
        "merges": [[token_to_str(a), token_to_str(b)] for a, b in merges],
    }
    document = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {**byte_level, "trim_offsets": False},
        "decoder": {**byte_level, "use_regex": True},
        "model": model,
    }
    _write_atomic(
        Path(directory) / HF_TOKENIZER_FILE, json.dumps(document, ensure_ascii=False).encode("utf-8")
    )


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)
