"""GPT-2's vocabulary files: `encoder.json` (token -> id) and `vocab.bpe` (merges in rank order).

Both files spell a token's bytes with GPT-2's `bytes_to_unicode` table, which maps every byte to a
printable character (space -> 'Ġ', newline -> 'Ċ') so that merges can be written one per line.
Reading validates everything an encoder relies on and names the file and line of the first fault,
because a silently truncated vocabulary would produce wrong ids forever after.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ENCODER_FILE = "encoder.json"
MERGES_FILE = "vocab.bpe"
MERGES_HEADER = "#version: 0.2"
HF_VOCAB_FILE = "vocab.json"
HF_MERGES_FILE = "merges.txt"
HF_TOKENIZER_FILE = "tokenizer.json"
OPENAI_LAYOUT = (ENCODER_FILE, MERGES_FILE)
HF_VOCAB_LAYOUT = (HF_VOCAB_FILE, HF_MERGES_FILE)
LAYOUTS = (OPENAI_LAYOUT, (HF_TOKENIZER_FILE,), HF_VOCAB_LAYOUT)

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
    pattern: str | None = None
    """The pre-tokenizer regex, where the files say (HF's tokenizer.json); None: GPT-2's."""


def has_vocab_files(directory: str | os.PathLike) -> bool:
    """Whether `directory` holds a vocabulary in one of the layouts `read_vocab_files` reads."""
    directory = Path(directory)
    return any(all((directory / name).is_file() for name in layout) for layout in LAYOUTS)


def read_vocab_files(directory: str | os.PathLike) -> VocabFiles:
    """Read and validate a vocabulary directory, in the first of these layouts that it holds:

    OpenAI's `encoder.json` + `vocab.bpe`; HF's `tokenizer.json` (a byte-level BPE, the format
    `save_pretrained` writes); HF's `vocab.json` + `merges.txt` (OpenAI's two files under other names).
    A `tokenizer.json` beside the other files still supplies the pre-tokenizer pattern.
    """
    directory = Path(directory)
    tokenizer_json = directory / HF_TOKENIZER_FILE
    document = _read_json(tokenizer_json) if tokenizer_json.is_file() else None
    if any((directory / name).is_file() for name in OPENAI_LAYOUT):
        files = _read_encoder_and_merges(*(directory / name for name in OPENAI_LAYOUT))
    elif document is not None:
        files = _read_tokenizer_json(tokenizer_json, document)
    elif any((directory / name).is_file() for name in HF_VOCAB_LAYOUT):
        files = _read_encoder_and_merges(*(directory / name for name in HF_VOCAB_LAYOUT))
    else:
        raise VocabFileError(
            directory,
            None,
            f"no vocabulary here: a vocabulary directory holds {ENCODER_FILE} and {MERGES_FILE} (OpenAI's files, "
            f"`bpe train` output), HF's {HF_TOKENIZER_FILE}, or HF's {HF_VOCAB_FILE} and {HF_MERGES_FILE}",
        )
    if document is None:
        return files
    return dataclasses.replace(files, pattern=_tokenizer_json_pattern(tokenizer_json, document))


def _read_encoder_and_merges(encoder_path: Path, merges_path: Path) -> VocabFiles:
    for path in (encoder_path, merges_path):
        if not path.is_file():
            raise VocabFileError(
                path, None, f"not found (it goes with {encoder_path.name} and {merges_path.name})"
            )
    encoder_text = _read_utf8(encoder_path)
    encoder = _parse_json(encoder_path, encoder_text)
    if not isinstance(encoder, dict) or not encoder:
        raise VocabFileError(encoder_path, 1, "expected a non-empty JSON object mapping token -> id")
    return _build(
        encoder,
        _merge_lines(merges_path),
        lambda key, message: VocabFileError(encoder_path, _json_line(encoder_text, key), message),
        lambda number, message: VocabFileError(merges_path, number, message),
        merges_name=merges_path.name,
    )


def _read_tokenizer_json(path: Path, document: object) -> VocabFiles:
    """HF tokenizers' serialization of a byte-level BPE: model.vocab, model.merges and added_tokens."""
    model = document.get("model") if isinstance(document, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        kind = model.get("type") if isinstance(model, dict) else None
        raise VocabFileError(path, None, f"model type is {kind!r}; only byte-level BPE loads here")
    for key, expected in (("byte_fallback", False), ("ignore_merges", False), ("dropout", None)):
        if model.get(key, expected) not in (expected, 0):
            raise VocabFileError(path, None, f"model.{key} is {model[key]!r}; GPT-2's BPE has {expected!r}")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise VocabFileError(path, None, f"model.{key} is {model[key]!r}: not a byte-level BPE")
    encoder, merges = model.get("vocab"), model.get("merges")
    if not isinstance(encoder, dict) or not encoder or not isinstance(merges, list):
        raise VocabFileError(path, None, "model.vocab must be a non-empty object and model.merges a list")

    def merge_pairs():
        for index, merge in enumerate(merges):
            parts = merge.split(" ") if isinstance(merge, str) else merge
            if (
                not isinstance(parts, list)
                or len(parts) != 2
                or not all(isinstance(p, str) and p for p in parts)
            ):
                raise VocabFileError(path, None, f"model.merges[{index}] is {merge!r}, not a pair of tokens")
            yield index, parts[0], parts[1]

    added = document.get("added_tokens") or []
    specials = {}
    for token in added:
        if (
            not isinstance(token, dict)
            or type(token.get("id")) is not int
            or not isinstance(token.get("content"), str)
        ):
            raise VocabFileError(path, None, f"added_tokens holds {token!r}, not an {{id, content}} object")
        specials[token["content"]] = token["id"]
    return _build(
        {**encoder, **specials},
        merge_pairs(),
        lambda key, message: VocabFileError(path, None, f"model.vocab: {message}"),
        lambda index, message: VocabFileError(path, None, f"model.merges[{index}]: {message}"),
        merges_name=f"{path.name}'s model.merges",
        special_tokens=specials,
    )


def _tokenizer_json_pattern(path: Path, document: object) -> str:
    """The pre-tokenizer of a byte-level BPE as one regex: ByteLevel's own (GPT-2's), or a Split before it."""
    from bpe.pretokenize import GPT2_PATTERN

    if not isinstance(document, dict):
        raise VocabFileError(path, 1, "expected a JSON object (HF tokenizers' tokenizer.json)")
    if document.get("normalizer") is not None:
        raise VocabFileError(path, None, "has a normalizer; a byte-level BPE encodes the text as it is")
    given = document.get("pre_tokenizer")
    steps = (
        given.get("pretokenizers") if isinstance(given, dict) and given.get("type") == "Sequence" else [given]
    )
    *splits, byte_level = steps if isinstance(steps, list) and steps else [None]
    if not isinstance(byte_level, dict) or byte_level.get("type") != "ByteLevel":
        raise VocabFileError(path, None, f"pre_tokenizer {given!r} does not end in ByteLevel")
    if byte_level.get("add_prefix_space"):
        raise VocabFileError(path, None, "ByteLevel adds a prefix space; GPT-2's tokenizer does not")
    patterns = []
    for split in splits:
        source = split.get("pattern") if isinstance(split, dict) else None
        source = source.get("Regex") if isinstance(source, dict) else None
        if (
            split.get("type") != "Split"
            or not isinstance(source, str)
            or split.get("behavior") != "Isolated"
            or split.get("invert")
        ):
            raise VocabFileError(path, None, f"pre-tokenizer step {split!r} is not an isolating regex Split")
        patterns.append(source)
    if byte_level.get("use_regex", True):
        patterns.append(GPT2_PATTERN)
    if len(patterns) != 1:
        raise VocabFileError(path, None, f"the pre-tokenizer splits with {len(patterns)} regexes, not one")
    return patterns[0]


def _build(
    encoder: dict,
    merge_pairs: Iterable[tuple[int, str, str]],
    encoder_error: Callable[[str, str], VocabFileError],
    merge_error: Callable[[int, str], VocabFileError],
    *,
    merges_name: str,
    special_tokens: dict[str, int] | None = None,
) -> VocabFiles:
    """Checks an encoder (token spelling -> id) and its merges against each other, in bytes.

    Tokens that no byte or merge produces are special tokens: those given, or else those shaped like one.
    """
    seen_ids: dict[int, str] = {}
    for key, value in encoder.items():
        if type(value) is not int or value < 0:
            raise encoder_error(key, f"id of {key!r} is {value!r}, not an int >= 0")
        if value in seen_ids:
            raise encoder_error(key, f"id {value} is used by both {seen_ids[value]!r} and {key!r}")
        seen_ids[value] = key

    vocab: dict[bytes, int] = {}
    for byte in range(256):
        char = BYTE_TO_CHAR[byte]
        if char not in encoder:
            raise encoder_error(char, f"byte token {char!r} (byte {byte}) is missing")
        vocab[bytes([byte])] = encoder[char]

    tokens = {key: str_to_token(key) for key in encoder}
    merges: list[tuple[bytes, bytes]] = []
    produced_by: dict[bytes, str] = {}
    for number, left_text, right_text in merge_pairs:
        line = f"{left_text} {right_text}"
        left, right = tokens.get(left_text), tokens.get(right_text)
        for part, token in ((left_text, left), (right_text, right)):
            if token is None or token not in vocab:
                raise merge_error(number, f"{part!r} is not a byte or the result of an earlier merge")
        merged = left + right
        if merged in produced_by:
            raise merge_error(
                number,
                f"merge {line!r} produces {token_to_str(merged)!r}, already produced by merge {produced_by[merged]!r}",
            )
        spelled = left_text + right_text
        if spelled not in encoder:
            raise merge_error(number, f"the result of merge {line!r}, {spelled!r}, has no id")
        vocab[merged] = encoder[spelled]
        produced_by[merged] = line
        merges.append((left, right))

    specials: dict[str, int] = {}
    for key, value in encoder.items():
        token = tokens[key]
        if token is not None and token in vocab:
            continue
        special = key in special_tokens if special_tokens is not None else SPECIAL_TOKEN_SHAPE.fullmatch(key)
        if not special:
            raise encoder_error(
                key,
                f"token {key!r} (id {value}) is neither a byte, a merge in {merges_name}, nor a special token "
                f"like <|endoftext|> (is {merges_name} truncated?)",
            )
        specials[key] = value
    return VocabFiles(vocab=vocab, merges=merges, special_tokens=specials)


def _json_line(text: str, key: str) -> int | None:
    """Line of `key` in encoder.json's text, for error messages only."""
    index = text.find(json.dumps(key) + ":")
    return text.count("\n", 0, index) + 1 if index >= 0 else None


def _read_json(path: Path) -> object:
    return _parse_json(path, _read_utf8(path))


def _parse_json(path: Path, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise VocabFileError(
            path, error.lineno, f"invalid JSON ({error.msg}, column {error.colno})"
        ) from None
    except RecursionError:
        raise VocabFileError(path, None, "invalid JSON (nested too deeply)") from None


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise VocabFileError(path, line, f"not valid UTF-8 ({error.reason})") from None


def _merge_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, left, right) of each merge in a vocab.bpe / merges.txt, after the #version header."""
    lines = _read_utf8(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    start = 1 if lines and lines[0].startswith("#version") else 0
    for number, line in enumerate(lines[start:], start=start + 1):
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise VocabFileError(path, number, f"expected two tokens separated by one space, got {line!r}")
        yield number, parts[0], parts[1]


def write_vocab_files(
    directory: str | os.PathLike,
    vocab: dict[bytes, int],
    merges: list[tuple[bytes, bytes]],
    special_tokens: dict[str, int],
    layout: tuple[str, str] = OPENAI_LAYOUT,
) -> None:
    """Write the two files exactly as OpenAI's: json.dumps' default spelling, a header, one merge a line.

    HF's GPT-2 ships the same bytes as `vocab.json` + `merges.txt` (`layout=HF_VOCAB_LAYOUT`).
    """
    encoder_name, merges_name = layout
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    encoder = {token_to_str(token): token_id for token, token_id in vocab.items()}
    encoder.update(special_tokens)
    encoder = dict(sorted(encoder.items(), key=lambda item: item[1]))
    lines = [MERGES_HEADER, *(f"{token_to_str(a)} {token_to_str(b)}" for a, b in merges)]
    _write_atomic(directory / encoder_name, json.dumps(encoder).encode("utf-8"))
    _write_atomic(directory / merges_name, ("\n".join(lines) + "\n").encode("utf-8"))


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


HF_TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


def write_hf_tokenizer_config(
    directory: str | os.PathLike, special_tokens: dict[str, int], model_max_length: int | None
) -> None:
    """`tokenizer_config.json` as transformers writes it for GPT-2: <|endoftext|> is bos, eos and unk."""
    from bpe.encoding import ENDOFTEXT

    eot = ENDOFTEXT if ENDOFTEXT in special_tokens else None
    config = {
        "add_prefix_space": False,
        "bos_token": eot,
        "eos_token": eot,
        "unk_token": eot,
        "pad_token": None,
        "errors": "replace",
        "model_max_length": model_max_length or int(1e30),  # transformers' "no limit"
        "tokenizer_class": "GPT2Tokenizer",
    }
    _write_atomic(Path(directory) / HF_TOKENIZER_CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())


def _write_atomic(path: Path, data: bytes) -> None:
    with replacing(path) as temporary:
        temporary.write_bytes(data)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to, renamed to `path` at the end, so that no partial file is
    ever visible; removed if the writing fails (a full disk)."""
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def check_writable(directory: str | os.PathLike) -> None:
    """Create `directory` and a file in it, then remove the file: an output that cannot be written (a
    file in the way, a read-only filesystem, no permission) raises OSError before the work, not after it."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
        pass
