"""Readers for the zero-shot evaluation tasks of the GPT-2 paper, in the files' own published formats.

The data is not downloaded by the project: users point at local copies of OpenAI's LAMBADA JSONL, the
original CBT text files, HellaSwag's JSONL and the raw WikiText/PTB token files. Every reader checks what it
reads and raises TaskDataError naming the file and the 1-based line, because a truncated download or the
wrong split otherwise turns into a silently wrong score.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass


class TaskDataError(ValueError):
    """A malformed task file; the message starts with "path:line: " (line 1-based)."""


@dataclass(frozen=True)
class LambadaExample:
    """One passage of OpenAI's lambada_test.jsonl; the scored continuation is " " + word."""

    context: str
    word: str


@dataclass(frozen=True)
class ClozeExample:
    """One CBT question: 20 context sentences, a query with "XXXXX" to fill, 10 candidates."""

    context: str
    query: str
    candidates: tuple[str, ...]
    answer: int


@dataclass(frozen=True)
class ChoiceExample:
    """One HellaSwag item; each ending is scored as " " + ending after the context."""

    context: str
    endings: tuple[str, ...]
    answer: int


def read_text(path: str | os.PathLike) -> str:
    """A raw text file (WikiText .tokens, PTB .txt, ...) exactly as it is: UTF-8, newlines untouched, so that
    word and byte counts are those of the published file."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise TaskDataError(f"{path}:{line}: not UTF-8 ({e.reason} at byte {e.start})") from None


def _lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline); "\\n" is the only line break, as in the published files."""
    lines = read_text(path).split("\n")
    if lines[-1] == "":  # the file's final newline ends the last line; it does not start another
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line.removesuffix("\r")


def _json_objects(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """The JSON object on each non-blank line of a JSONL file."""
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise TaskDataError(f"{path}:{number}: not JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:  # json's recursion limit: a line of ~1,000 "["
            raise TaskDataError(f"{path}:{number}: not JSON (nested too deeply)") from None
        if not isinstance(obj, dict):
            raise TaskDataError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        yield number, obj


def _string_field(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        got = "nothing" if key not in obj else type(value).__name__
        raise TaskDataError(f"{where}: field {key!r} must be a string, got {got}")
    return value


def _examples(examples: list, path: str | os.PathLike) -> list:
    """A file without a single example is refused: it is an empty download, not a score of nothing."""
    if not examples:
        raise TaskDataError(f"{path}:1: no examples in the file")
    return examples


def read_lambada(path: str | os.PathLike) -> list[LambadaExample]:
    """OpenAI's detokenized LAMBADA test set: the target is the passage's last space-separated word, split
    off exactly as lm-evaluation-harness does (text.rsplit(" ", 1)), punctuation included if any."""
    examples = []
    for number, obj in _json_objects(path):
        where = f"{path}:{number}"
        text = _string_field(obj, "text", where)
        if " " not in text:
            raise TaskDataError(f"{where}: text has no space, so no last word to predict: {text[:60]!r}")
        context, word = text.rsplit(" ", 1)
        if not word or not context:
            raise TaskDataError(f"{where}: text must not start or end with a space: {text[:60]!r}")
        examples.append(LambadaExample(context=context, word=word))
    return _examples(examples, path)


# The tasks `webtext eval` knows and LAMBADA's protocols (here, not in model/evaluate.py, so that the CLI
# lists them without importing torch).
TASKS = ("lambada", "cbt-cn", "cbt-ne", "wikitext", "ptb", "text", "hellaswag", "heldout")
LAMBADA_PROTOCOLS = ("last-word", "last-token")
CBT_CONTEXT_LINES = 20
CBT_BLANK = "XXXXX"
_CBT_LINE = re.compile(r"(\d+)(?: (.*))?")  # a sentence line may be a bare number (an empty sentence)


def read_cbt(path: str | os.PathLike) -> list[ClozeExample]:
    """The Children's Book Test text format (cbtest_CN_*.txt, cbtest_NE_*.txt): per example, lines
    "1 sentence" .. "20 sentence", then "21 query\\tanswer\\t\\tcand1|...|cand10", then a blank line (which
    the last example of a file may lack)."""
    examples = []
    sentences: list[str] = []
    number = 0
    for number, line in _lines(path):
        where = f"{path}:{number}"
        if not line.strip():
            if sentences:
                raise TaskDataError(f"{where}: blank line after {len(sentences)} sentences, expected line 21")
            continue
        match = _CBT_LINE.fullmatch(line)
        expected = len(sentences) + 1
        if not match or int(match[1]) != expected:
            raise TaskDataError(
                f"{where}: expected line {expected} of an example ('{expected} sentence'): {line[:60]!r}"
            )
        if expected <= CBT_CONTEXT_LINES:
            sentences.append(match[2] or "")
            continue
        examples.append(_cbt_question(match[2] or "", " ".join(filter(None, sentences)), where))
        sentences = []
    if sentences:
        raise TaskDataError(
            f"{path}:{number + 1}: file ends after {len(sentences)} sentences, expected line 21"
        )
    return _examples(examples, path)


def _cbt_question(line: str, context: str, where: str) -> ClozeExample:
    fields = line.split("\t")
    if len(fields) != 4 or fields[2]:
        raise TaskDataError(f"{where}: expected 'query<TAB>answer<TAB><TAB>cand|cand|...': {line[:80]!r}")
    query, answer, _, candidates = fields
    if query.count(CBT_BLANK) != 1:
        raise TaskDataError(f"{where}: the query must contain {CBT_BLANK} exactly once: {query[:80]!r}")
    options = tuple(candidates.split("|"))
    if not all(options):
        raise TaskDataError(f"{where}: empty candidate in {candidates!r}")
    if answer not in options:
        raise TaskDataError(f"{where}: answer {answer!r} is not among the candidates {candidates!r}")
    return ClozeExample(context=context, query=query, candidates=options, answer=options.index(answer))


def hellaswag_preprocess(text: str) -> str:
    """lm-evaluation-harness's HellaSwag `preprocess`, as it is: the brackets are WikiHow artifacts."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def read_hellaswag(path: str | os.PathLike) -> list[ChoiceExample]:
    """HellaSwag's JSONL (hellaswag_val.jsonl), preprocessed as lm-evaluation-harness does so that
    accuracies compare with its published ones."""
    examples = []
    for number, obj in _json_objects(path):
        where = f"{path}:{number}"
        ctx_a, ctx_b, activity = (
            _string_field(obj, key, where) for key in ("ctx_a", "ctx_b", "activity_label")
        )
        endings = obj.get("endings")
        if not isinstance(endings, list) or len(endings) < 2 or not all(isinstance(e, str) for e in endings):
            raise TaskDataError(f"{where}: field 'endings' must be a list of at least two strings")
        label = obj.get("label")
        if isinstance(label, str) and label.isascii() and label.isdigit():
            label = int(label)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(endings):
            raise TaskDataError(
                f"{where}: field 'label' must be an index into the {len(endings)} endings, got {label!r}"
            )
        endings = [hellaswag_preprocess(e) for e in endings]
        if not all(endings):
            raise TaskDataError(f"{where}: an ending is empty after preprocessing: {endings!r}")
        examples.append(
            ChoiceExample(
                context=hellaswag_preprocess(activity + ": " + ctx_a + " " + ctx_b.capitalize()),
                endings=tuple(endings),
                answer=label,
            )
        )
    return _examples(examples, path)


def _is_article_title(line: str) -> bool:
    """A line " = Title = " starts an article; " = = Section = = " and deeper headings do not."""
    s = line.strip()
    return s.startswith("= ") and s.endswith(" =") and not s.startswith("= =") and not s.endswith("= =")


def wikitext_articles(text: str) -> list[str]:
    """A WikiText .tokens file split into its articles, each from its " = Title = " line up to the next one.

    lm-evaluation-harness scores WikiText per article (EleutherAI/wikitext_document_level starts a page at
    the same title lines). Unlike that script, which drops the blank line before the first title and
    rejoins lines with "\\n", every line here stays, with its newline, in exactly one article:
    "".join(articles) == text, so word counts and perplexities over the articles are those of the whole
    file. Blank lines before the first title go with the first article; text before it is one of its own."""
    lines = re.findall(r".*\n|.+", text)
    starts = [i for i, line in enumerate(lines) if _is_article_title(line)]
    if starts and not "".join(lines[: starts[0]]).strip():
        starts = starts[1:]
    bounds = [0, *starts, len(lines)]
    return ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:]) if a < b]


def word_count(text: str) -> int:
    """The "canonical units" of a tokenized corpus, by which the GPT-2 paper normalises perplexity: the
    whitespace-separated tokens of the original (not detokenized) text, plus one <eos> per line.

    That is how the word-level models whose perplexities the paper compares with count them: PyTorch's
    word_language_model and AWD-LSTM read a file as `line.split() + ['<eos>']` for every line, blank
    WikiText lines included, and TensorFlow's PTB reader replaces each newline with <eos>. On PTB (no
    blank lines) the test set comes to the usual 82,430."""
    lines = text.split("\n")
    if lines[-1] == "":  # the text ends with a newline: no line after it
        lines.pop()
    return sum(len(line.split()) + 1 for line in lines)
