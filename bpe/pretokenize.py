"""Split text into pre-tokens with a regex, as GPT-2 does before BPE.

GPT-2's pattern needs Unicode properties (\\p{L}, \\p{N}), which only the `regex` package knows. But
Python's built-in `re` engine runs the same pattern 2-2.5x faster when \\p{L}, \\p{N} and \\s are spelled
out as character classes, and that is exact for every text without characters beyond U+FFFF (nearly all
text): the classes are enumerated from `regex`'s own Unicode tables over the Basic Multilingual Plane.
Texts with astral characters (emoji, rare CJK) go to `regex` itself. tests/test_pretokenize.py checks
both paths agree on every BMP character.
"""

from __future__ import annotations

import functools
import re

import regex

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
"""GPT-2's pre-tokenizer pattern, as in OpenAI's `encoder.py`."""

# GPT-2's pattern with its Unicode properties as placeholders for the BMP character classes.
_GPT2_BMP_TEMPLATE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+"""


class Pretokenizer:
    """`findall(text)` -> pre-tokens; the fast `re` path is used where it is exact."""

    def __init__(self, pat_str: str):
        self.pat_str = pat_str
        self._regex = regex.compile(pat_str)
        self._bmp = _gpt2_bmp_pattern() if pat_str == GPT2_PATTERN else None

    def findall(self, text: str, errors: str = "surrogatepass") -> list[str]:
        """The pre-tokens of `text`. With `errors="strict"`, text holding surrogates (which UTF-8 cannot
        encode) raises UnicodeEncodeError before any matching, so a caller that replaces them and tries
        again has wasted no work."""
        if text.isascii():
            return (self._regex if self._bmp is None else self._bmp).findall(text)
        bmp = len(text.encode("utf-16-le", errors)) == 2 * len(text)  # 2 bytes a character: none is astral
        return (self._bmp if bmp and self._bmp is not None else self._regex).findall(text)


@functools.cache
def _gpt2_bmp_pattern() -> re.Pattern:
    planes = ("".join(map(chr, range(0xD800))), "".join(map(chr, range(0xE000, 0x10000))))  # no surrogates
    classes = {
        name: _bmp_class(prop, planes) for name, prop in (("L", r"\p{L}"), ("N", r"\p{N}"), ("S", r"\s"))
    }
    return re.compile(_GPT2_BMP_TEMPLATE.format(**classes))


def _bmp_class(prop: str, planes: tuple[str, ...]) -> str:
    """The BMP characters `regex` matches with `prop`, as the body of an `re` character class."""
    ranges = []
    for run in (run for plane in planes for run in regex.finditer(prop + "+", plane)):
        first, last = run.group()[0], run.group()[-1]
        ranges.append(re.escape(first) if first == last else f"{re.escape(first)}-{re.escape(last)}")
    return "".join(ranges)
