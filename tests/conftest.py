"""Shared fixtures: OpenAI's GPT-2 vocabulary as the package ships it, and reference tokenizers built from it.

Nothing here looks outside the repository: the tests run the same on a clone with nothing beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bpe
from bpe.registry import encoding_dir


@pytest.fixture(scope="session")
def gpt2_dir() -> Path:
    """The packaged copy of OpenAI's encoder.json and vocab.bpe."""
    return encoding_dir("gpt2")


@pytest.fixture(scope="session")
def gpt2() -> bpe.Encoding:
    return bpe.get_encoding("gpt2")


@pytest.fixture(scope="session")
def tiktoken_gpt2(gpt2_dir):
    """tiktoken's gpt2 encoding, built offline from the same two files."""
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str

    ranks = data_gym_to_mergeable_bpe_ranks(str(gpt2_dir / "vocab.bpe"), str(gpt2_dir / "encoder.json"))
    return tiktoken.Encoding(
        "gpt2-local",
        pat_str=r50k_pat_str,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    )


@pytest.fixture(scope="session")
def hf_gpt2(gpt2_dir):
    """HF tokenizers' GPT-2 (byte-level BPE) from the same two files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokenizer = Tokenizer(models.BPE.from_file(str(gpt2_dir / "encoder.json"), str(gpt2_dir / "vocab.bpe")))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer
