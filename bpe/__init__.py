"""GPT-2's byte-level BPE tokenizer, id-for-id identical to OpenAI's files, with tiktoken's API.

>>> import bpe
>>> enc = bpe.get_encoding("gpt2")            # shipped with the package; or bpe.load(directory)
>>> enc.encode("Hello world")
[15496, 995]
>>> enc.decode([15496, 995])
'Hello world'
"""

from __future__ import annotations

from bpe.encoding import (
    ENDOFTEXT,
    Encoding,
    MissingEndOfTextError,
    TokenRangeError,
    TokenTypeError,
    UnknownTokenError,
)
from bpe.files import GPT2_BYTE_ORDER, VocabFileError
from bpe.pretokenize import GPT2_PATTERN
from bpe.registry import VocabMismatchError, get_encoding, list_encoding_names, load, resolve

__all__ = [
    "ENDOFTEXT",
    "GPT2_BYTE_ORDER",
    "GPT2_PATTERN",
    "Encoding",
    "MissingEndOfTextError",
    "TokenRangeError",
    "TokenTypeError",
    "UnknownTokenError",
    "VocabFileError",
    "VocabMismatchError",
    "get_encoding",
    "list_encoding_names",
    "load",
    "resolve",
    "train",
]


def __getattr__(name: str):
    # `bpe.train` is bpe.trainer.train, imported when first used: it needs numpy, which encoding does not.
    if name == "train":
        from bpe.trainer import train

        return train
    raise AttributeError(f"module 'bpe' has no attribute {name!r}")
