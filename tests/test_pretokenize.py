"""The fast `re` path of the GPT-2 pre-tokenizer equals the `regex` package on every BMP character."""

from __future__ import annotations

import random

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from bpe.pretokenize import GPT2_PATTERN, Pretokenizer, _gpt2_bmp_pattern

BMP = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
REFERENCE = regex.compile(GPT2_PATTERN)


def _contexts() -> dict[str, str]:
    shuffled = BMP[:]
    random.Random(0).shuffle(shuffled)
    rng = random.Random(1)
    return {
        "in-order": "".join(BMP),
        "space-separated": " ".join(BMP),
        "after-letters-and-digits": "".join(f"a{c}1{c}{c} " for c in BMP),
        "before-contractions": "".join(f"{c}'s {c}'ll\n" for c in BMP),
        "whitespace-around": "".join(f"  {c}\t\n {c}" for c in BMP),
        "shuffled": "".join(c + rng.choice(["", " ", "  ", "\n", "x", "'d"]) for c in shuffled),
    }


@pytest.mark.parametrize("name", sorted(_contexts()))
def test_bmp_path_equals_regex_on_every_bmp_character(name):
    text = _contexts()[name]
    assert _gpt2_bmp_pattern().findall(text) == REFERENCE.findall(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_dispatch_equals_regex_on_any_text(text):
    assert Pretokenizer(GPT2_PATTERN).findall(text) == REFERENCE.findall(text)


def test_astral_characters_and_other_patterns_use_regex():
    text = "emoji 🙂 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 letters 𝟙𝟚 digits"
    assert Pretokenizer(GPT2_PATTERN).findall(text) == REFERENCE.findall(text)
    assert " 𝔘𝔫𝔦𝔠𝔬𝔡𝔢" in Pretokenizer(GPT2_PATTERN).findall(text)
    custom = Pretokenizer(r"\p{L}+|\S")
    assert custom._bmp is None and custom.findall("ab, c") == ["ab", ",", "c"]
