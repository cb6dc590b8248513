"""Zero-shot evaluation as in the GPT-2 paper: LAMBADA, CBT, WikiText/PTB/raw-text perplexity, HellaSwag,
held-out loss. Every task turns its examples into (context, continuation) requests for `model.scoring`
and reduces the scores to labelled result rows; the protocols follow lm-evaluation-harness where it has
the task, so that numbers compare with its published ones, and the paper where it differs (labelled so).
"""

from __future__ import annotations

import glob
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from model.detokenize import DETOKENIZERS
from model.gpt import GPT
from model.scoring import Request, Score, rolling_requests, score
from model.tasks import (
    CBT_BLANK,
    LAMBADA_PROTOCOLS,
    TASKS,
    read_cbt,
    read_hellaswag,
    read_lambada,
    read_text,
    wikitext_articles,
    word_count,
)
from model.tokens import load_shard

DEFAULT_DETOKENIZER = {"cbt-cn": "cbt", "cbt-ne": "cbt", "wikitext": "wikitext", "ptb": "ptb", "text": "none"}

# NLTK's English stop-word list (nltk.corpus.stopwords.words("english"), the 179 words of NLTK <= 3.8): the
# GPT-2 paper filters stop words out of LAMBADA predictions without saying which list; this is the usual one.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he
    him his himself she she's her hers herself it it's its itself they them their theirs themselves what
    which who whom this that that'll these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under again further
    then once here there when where why how all any both each few more most other some such no nor not only
    own same so than too very s t can will just don don't should should've now d ll m o re ve y ain aren
    aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma
    mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won
    won't wouldn wouldn't
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


DETOKENIZER_NAMES = tuple(DETOKENIZERS)

APPLIES_TO = {
    "protocol": ("lambada",),
    "stop_filter": ("lambada",),
    "detokenizer": ("cbt-cn", "cbt-ne", "wikitext", "ptb", "text"),
    "stride": ("wikitext", "ptb", "text", "heldout"),
}
"""The tasks each task-specific setting applies to; set for another, it is an error rather than ignored."""


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """One evaluation of a model: the task, its data and how to score it (the model is the command's)."""

    task: Literal[TASKS]
    """The task: lambada, cbt-cn, cbt-ne, wikitext, ptb, text (any text's perplexity), hellaswag or heldout
    (the loss on token shards)."""
    data: str
    """The task's file (heldout: a `tokenize` output directory, for its val shards, or a glob of .bin)."""
    protocol: Literal[LAMBADA_PROTOCOLS] | None = None
    """LAMBADA: the whole last word (lm-evaluation-harness; the default) or its last token (the paper)."""
    stop_filter: bool = False
    """LAMBADA: greedy decoding never picks a stop word (the paper)."""
    detokenizer: Literal[DETOKENIZER_NAMES] | None = None
    """The detokenizer applied before scoring; default: the task's own (none for text). Word counts use the
    original text."""
    stride: int | None = None
    """Sliding-window step in tokens; default: block_size/2 for text tasks, block_size for heldout."""
    batch_size: int = 32
    """Sequences per forward pass."""
    limit: int | None = None
    """Only the first N examples / articles / lines / windows; default: all."""
    device: str | None = None
    """Where the model runs; default: cuda when available, else cpu."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """bfloat16 autocasts the forward pass: faster on a GPU, but the scores are no longer exact fp32."""

    def __post_init__(self) -> None:
        for name, tasks in APPLIES_TO.items():
            if getattr(self, name) not in (None, False) and self.task not in tasks:
                raise ValueError(f"--{name.replace('_', '-')} does not apply to --task {self.task}")
        for name in ("stride", "batch_size", "limit"):
            if (getattr(self, name) or 1) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")

    def task_options(self, block_size: int) -> dict[str, object]:
        """The task's options with their defaults filled in, for a model of `block_size`."""
        return task_options(
            self.task, block_size, self.protocol, self.stop_filter, self.detokenizer, self.stride
        )


@dataclass(frozen=True)
class Result:
    task: str
    protocol: str
    metric: str
    value: float
    examples: int  # passages, questions, items, documents, or held-out windows
    tokens: int  # tokens whose log-probabilities the metric is made of
    seconds: float


def evaluate(
    model: GPT,
    enc,
    task: str,
    data: str | os.PathLike,
    *,
    protocol: str | None = None,
    stop_filter: bool = False,
    detokenizer: str | None = None,
    stride: int | None = None,
    limit: int | None = None,
    **options,
) -> list[Result]:
    """Reads `data` in the task's format and scores it; options go to `model.scoring.token_scores`.

    limit keeps the first examples (LAMBADA, CBT, HellaSwag), articles (WikiText), lines (PTB, text) or
    windows (held-out). stride defaults to block_size for held-out loss (training's validation windows) and
    block_size // 2 for text: twice the compute of disjoint windows, and every token but the first
    block_size sees at least half a context, where disjoint windows give the first token of each only one.
    """
    chosen = task_options(task, model.config.block_size, protocol, stop_filter, detokenizer, stride)
    protocol, detokenizer, stride = (chosen.get(key) for key in ("protocol", "detokenizer", "stride"))
    if task == "heldout":
        return heldout(model, data, stride, limit, **options)
    if enc.n_vocab > model.config.vocab_size:
        raise ValueError(f"the vocabulary has {enc.n_vocab} tokens, the model only {model.config.vocab_size}")
    head = slice(None, limit)
    if task == "lambada":
        return lambada(model, enc, _read(read_lambada, data, head), protocol, stop_filter, **options)
    if task == "hellaswag":
        return hellaswag(model, enc, _read(read_hellaswag, data, head), **options)
    if task.startswith("cbt"):
        return cbt(model, enc, task, _read(read_cbt, data, head), detokenizer, **options)
    text = read_text(data)
    if task == "wikitext":
        documents = wikitext_articles(text)[head]
    else:  # one document; its lines end at "\n" only (str.splitlines would also cut at \x0b, \u2028...)
        lines = re.findall(r"[^\n]*\n|[^\n]+\Z", text)
        documents = ["".join(lines[head])]
    return perplexity(model, enc, task, documents, detokenizer, stride, **options)


def run(model: GPT, enc, config: EvalConfig, progress: bool = False) -> list[Result]:
    """`evaluate` with the settings of `config`."""
    return evaluate(
        model,
        enc,
        config.task,
        config.data,
        protocol=config.protocol,
        stop_filter=config.stop_filter,
        detokenizer=config.detokenizer,
        stride=config.stride,
        limit=config.limit,
        batch_size=config.batch_size,
        autocast=getattr(torch, config.dtype),
        progress=progress,
    )


def task_options(
    task: str,
    block_size: int,
    protocol: str | None = None,
    stop_filter: bool = False,
    detokenizer: str | None = None,
    stride: int | None = None,
) -> dict[str, object]:
    """The options the task runs with, defaults filled in (what a report should record); ValueError for
    an unknown task, protocol or detokenizer."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if task == "lambada":
        protocol = protocol or "last-word"
        if protocol not in LAMBADA_PROTOCOLS:
            raise ValueError(
                f"unknown LAMBADA protocol {protocol!r}; choose one of {', '.join(LAMBADA_PROTOCOLS)}"
            )
        return {"protocol": protocol, "stop_filter": stop_filter}
    if task == "heldout":
        return {"stride": stride or block_size}
    if task == "hellaswag":
        return {}
    detokenizer = detokenizer or DEFAULT_DETOKENIZER[task]
    if detokenizer not in DETOKENIZERS:
        raise ValueError(f"unknown detokenizer {detokenizer!r}; choose one of {', '.join(DETOKENIZERS)}")
    if task.startswith("cbt"):
        return {"detokenizer": detokenizer}
    return {"detokenizer": detokenizer, "stride": stride or block_size // 2}


def lambada(model: GPT, enc, examples: Sequence, protocol: str, stop_filter: bool, **options) -> list[Result]:
    """Accuracy and perplexity of LAMBADA's last word.

    last-word (lm-evaluation-harness's lambada_openai): the continuation is " " + word; it is right when
    greedy decoding reproduces all its tokens; perplexity is exp(-mean over passages of log p(word)).
    last-token (the paper's, per OpenAI): the continuation is the word's last BPE token alone, after the
    rest of the text. The stop-word filter (the paper's, approximated on tokens): greedy decoding may not
    start the word with a token that is a stop word, except the answer's own first token (" In" of
    " Ingrid"), and a stop-word answer counts as wrong, as a filtered prediction is never one. Under
    last-token it applies where the word is one token. It changes accuracies, not probabilities, so the
    perplexity row keeps the plain protocol's name.
    """
    start = time.perf_counter()
    requests: list[Request] = []
    filtered: list[bool] = []
    for example in examples:
        context, word = encode_pair(enc, example.context, " " + example.word)
        # The filter judges words: under last-token only a one-token word's token is one.
        filtered.append(protocol == "last-word" or len(word) == 1)
        if protocol == "last-token":
            context, word = context + word[:-1], word[-1:]
        requests.append((context, word))
    mask = stop_word_mask(enc, model.config.vocab_size) if stop_filter else None
    scores = score(model, requests, first_token_mask=mask, filtered=filtered, desc="lambada", **options)
    # A filtered prediction is never a stop word, so a stop-word answer is never predicted.
    right = [
        s.greedy and not (stop_filter and example.word.lower() in STOP_WORDS)
        for s, example in zip(scores, examples, strict=True)
    ]
    tokens = sum(s.tokens for s in scores)
    row = _rows("lambada", len(scores), tokens, start)
    return [
        row(f"{protocol}+stop-filter" if stop_filter else protocol, "acc", _mean(right)),
        row(protocol, "ppl", math.exp(-_mean([s.logprob for s in scores]))),
    ]


def encode_pair(enc, context: str, continuation: str) -> Request:
    """(context ids, continuation ids) as lm-evaluation-harness's `_encode_pair` makes them: whitespace at
    the end of the context moves to the start of the continuation (GPT-2's BPE starts words with their
    space), and the continuation's ids are the whole text's after as many as the context alone has."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    context_ids = enc.encode_ordinary(context)
    return context_ids, enc.encode_ordinary(context + continuation)[len(context_ids) :]


def stop_word_mask(enc, vocab_size: int) -> torch.Tensor:
    """True for the tokens whose text, stripped and lowercased, is one of STOP_WORDS (" The", "and", ...)."""
    known = min(enc.n_vocab, vocab_size)
    return torch.tensor(
        [enc.decode([i]).strip().lower() in STOP_WORDS for i in range(known)] + [False] * (vocab_size - known)
    )


def cbt(model: GPT, enc, task: str, examples: Sequence, detokenizer: str, **options) -> list[Result]:
    """The candidate whose filled-in query is likeliest after the context (the paper's CBT protocol).

    The paper scores "each choice and the rest of the sentence conditioned on this choice"; scoring the
    whole filled query adds log p(words before the blank), the same for every candidate, so the choice is
    the same (as long as BPE does not merge a candidate with the token before the blank).
    """
    start = time.perf_counter()
    detokenize = DETOKENIZERS[detokenizer]
    requests: list[Request] = []
    for example in examples:
        context = detokenize(example.context)
        for candidate in example.candidates:
            query = detokenize(example.query.replace(CBT_BLANK, candidate))
            requests.append(encode_pair(enc, context, " " + query))
    scores = iter(score(model, requests, desc=task, **options))
    right = [
        _argmax([next(scores).logprob for _ in example.candidates]) == example.answer for example in examples
    ]
    tokens = sum(len(r[1]) for r in requests)
    return [
        _rows(task, len(examples), tokens, start)(f"sentence+detokenizer={detokenizer}", "acc", _mean(right))
    ]


def hellaswag(model: GPT, enc, examples: Sequence, **options) -> list[Result]:
    """lm-evaluation-harness's HellaSwag: acc picks the likeliest " " + ending; acc_norm divides each
    log-likelihood by the ending's length in characters, without the space (its `len(choice)`)."""
    start = time.perf_counter()
    requests: list[Request] = [
        encode_pair(enc, example.context, " " + ending) for example in examples for ending in example.endings
    ]
    scores = iter(score(model, requests, desc="hellaswag", **options))
    acc, acc_norm = [], []
    for example in examples:
        logprobs = [next(scores).logprob for _ in example.endings]
        acc.append(_argmax(logprobs) == example.answer)
        normed = [lp / len(ending) for lp, ending in zip(logprobs, example.endings, strict=True)]
        acc_norm.append(_argmax(normed) == example.answer)
    row = _rows("hellaswag", len(examples), sum(len(r[1]) for r in requests), start)
    return [row("completion", "acc", _mean(acc)), row("completion", "acc_norm", _mean(acc_norm))]


def perplexity(
    model: GPT,
    enc,
    task: str,
    documents: Sequence[str],
    detokenizer: str,
    stride: int,
    **options,
) -> list[Result]:
    """Word perplexity (per `word_count` of the original text, the paper's "canonical units"), token
    perplexity and bits per byte (of the detokenized text the model reads) over sliding windows.

    Each document is detokenized, encoded and scored from <|endoftext|> on, as lm-evaluation-harness's
    loglikelihood_rolling does. (lm-evaluation-harness counts WikiText's bytes before detokenization;
    here bits per byte are those of what the model predicts, as for enwik8 or text8, where both agree.)
    """
    start = time.perf_counter()
    detokenize, eot = DETOKENIZERS[detokenizer], _eot(enc)
    windows: list[Request] = []
    words = tokens = size = 0
    for document in documents:
        fed = detokenize(document)
        ids = [eot, *enc.encode_ordinary(fed)]
        windows += rolling_requests(ids, model.config.block_size, stride)
        words, tokens, size = words + word_count(document), tokens + len(ids) - 1, size + len(fed.encode())
    if not tokens:
        raise ValueError(f"{task}: no text to score")
    total = _total(score(model, windows, desc=task, **options))
    row = _rows(task, len(documents), tokens, start)
    protocol = f"stride={stride}+detokenizer={detokenizer}"
    return [
        row(protocol, "word_ppl", math.exp(-total / words)),
        row(protocol, "token_ppl", math.exp(-total / tokens)),
        row(protocol, "bits_per_byte", -total / size / math.log(2)),
    ]


def heldout(model: GPT, data: str | os.PathLike, stride: int, limit: int | None, **options) -> list[Result]:
    """Mean cross-entropy (nats per token) and perplexity on token shards of `webtext tokenize`.

    data is a tokenize output directory (its webtext_val_*.bin) or a glob; each shard is scored on its
    own, its first token as the context of the rest, so stride = block_size gives training's val windows.
    """
    start = time.perf_counter()
    paths = shard_paths(data)
    windows: list[Request] = []
    for path in paths:
        tokens = load_shard(path)
        if len(tokens) and int(tokens.max()) >= model.config.vocab_size:
            raise ValueError(f"{path}: token id {int(tokens.max())} is outside the model's vocabulary")
        windows += rolling_requests(tokens, model.config.block_size, stride)
    windows = windows[:limit]
    if not windows:
        raise ValueError(f"{data}: no tokens to score (shards of one token or less)")
    scores = score(model, windows, desc="heldout", **options)
    count = sum(s.tokens for s in scores)
    loss = -_total(scores) / count
    row = _rows("heldout", len(windows), count, start)
    return [row(f"stride={stride}", "loss", loss), row(f"stride={stride}", "ppl", math.exp(loss))]


def shard_paths(data: str | os.PathLike) -> list[str]:
    """The shards a held-out evaluation reads: a directory's webtext_val_*.bin, or the files a glob matches."""
    pattern = str(Path(data) / "webtext_val_*.bin") if os.path.isdir(data) else str(data)
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise ValueError(f"no token shards match {pattern!r} (give a tokenize output directory or a glob)")
    return paths


def _read(reader: Callable[[str | os.PathLike], list], data: str | os.PathLike, head: slice) -> list:
    examples = reader(data)[head]
    if not examples:
        raise ValueError(f"{data}: no examples in the file")
    return examples


def _rows(task: str, examples: int, tokens: int, start: float) -> Callable[[str, str, float], Result]:
    """A maker of the task's result rows, all timed from `start` (reading the file is not counted)."""
    seconds = time.perf_counter() - start
    return lambda protocol, metric, value: Result(task, protocol, metric, value, examples, tokens, seconds)


def _eot(enc) -> int:
    try:
        return enc.eot_token
    except AttributeError:
        raise ValueError("the vocabulary has no <|endoftext|> to condition documents on") from None


def _argmax(values: Sequence[float]) -> int:
    """The first index of the largest value, as numpy's argmax (which lm-evaluation-harness uses)."""
    return max(range(len(values)), key=values.__getitem__)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _total(scores: Sequence[Score]) -> float:
    return math.fsum(s.logprob for s in scores)
