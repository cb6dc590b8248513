"""GPT-2's byte-level BPE tokenizer, id-for-id identical to OpenAI's files, with tiktoken's API.

>>> import bpe
>>> enc = bpe.load("path/to/gpt2")            # a directory with encoder.json + vocab.bpe
>>> enc.encode("Hello world")
[15496, 995]
>>> enc.decode([15496, 995])
'Hello world'
"""

from __future__ import annotations

import os
from pathlib import Path

from bpe.encoding import ENDOFTEXT, Encoding
from bpe.files import GPT2_BYTE_ORDER, VocabFileError, read_vocab_files
from bpe.pretokenize import GPT2_PATTERN

__all__ = ["ENDOFTEXT", "GPT2_BYTE_ORDER", "GPT2_PATTERN", "Encoding", "VocabFileError", "load"]


def load(path: str | os.PathLike, *, pat_str: str = GPT2_PATTERN, name: str | None = None) -> Encoding:
    """Load a vocabulary directory holding GPT-2's two files, `encoder.json` and `vocab.bpe`."""
    files = read_vocab_files(path)
    return Encoding(
        name or Path(path).resolve().name,
        pat_str=pat_str,
        vocab=files.vocab,
        merges=files.merges,
        special_tokens=files.special_tokens,
    )
