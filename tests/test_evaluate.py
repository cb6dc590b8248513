"""Zero-shot evaluation: every task's scores equal an independent computation done with transformers.

The model is a tiny GPT-2 with large random weights (far from uniform predictions) and a 48-token context,
so that short fixture files already exercise left truncation and sliding windows. The references below
use only `GPT2LMHeadModel` logits, log_softmax and gather, summed as each protocol defines.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from manifests import write_manifest
from tiny_gpt2 import save_tiny_hf_gpt2

from model.detokenize import DETOKENIZERS
from model.evaluate import STOP_WORDS, encode_pair, evaluate
from model.hf import load_hf
from model.scoring import rolling_requests, score, token_scores
from model.tokens import SHARD_GLOB, SUMMARY_FILE, write_shard
from webtext.cli import main

transformers = pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]
BLOCK = 48


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return save_tiny_hf_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_positions=BLOCK)


@pytest.fixture(scope="module")
def theirs(hf_dir):
    return transformers.GPT2LMHeadModel.from_pretrained(hf_dir).eval()


@pytest.fixture(scope="module")
def ours(hf_dir):
    return load_hf(hf_dir).eval()


# ---------------------------------------------------------------------- references, with transformers only


def reference_rows(theirs, context: list[int], continuation: list[int]) -> torch.Tensor:
    """log p(· | ...) at each continuation position (rows), context cut to fit n_positions + 1 tokens."""
    ids = (context + continuation)[-(BLOCK + 1) :]
    with torch.no_grad():
        logits = theirs(torch.tensor([ids[:-1]])).logits[0].float()
    return logits.log_softmax(-1)[len(ids) - 1 - len(continuation) :]


def reference_logprob(theirs, context: list[int], continuation: list[int]) -> float:
    rows = reference_rows(theirs, context, continuation)
    return rows.gather(-1, torch.tensor(continuation)[:, None]).sum().item()


def reference_rolling(theirs, ids: list[int], stride: int) -> float:
    """log p(ids[1:] | ids[0]): the first window predicts up to BLOCK tokens, each next one `stride` more,
    every token with the BLOCK tokens (or all there are) before the window's end as input."""
    total, done, end = 0.0, 1, min(BLOCK + 1, len(ids))
    while done < len(ids):
        with torch.no_grad():
            logits = theirs(torch.tensor([ids[max(0, end - BLOCK - 1) : end - 1]])).logits[0].float()
        rows = logits.log_softmax(-1)[-(end - done) :]
        total += rows.gather(-1, torch.tensor(ids[done:end])[:, None]).sum().item()
        done, end = end, min(end + stride, len(ids))
    return total


def stop_mask(gpt2) -> torch.Tensor:
    return torch.tensor([gpt2.decode([i]).strip().lower() in STOP_WORDS for i in range(gpt2.n_vocab)])


def value(results, metric: str, protocol: str | None = None) -> float:
    (found,) = [r for r in results if r.metric == metric and protocol in (None, r.protocol)]
    return found.value


# ---------------------------------------------------------------------- the scoring core


def test_batched_scores_equal_unbatched_and_transformers(ours, theirs, gpt2):
    texts = [
        ("The quick brown", " fox jumps over the lazy dog"),
        ("A", " b"),
        (" ".join(["Once upon a time"] * 20), " there was a king"),  # context cut from the left
        ("Hello", " world"),
        ("It was the best of times, it was the worst", " of times"),
    ]
    requests = [(gpt2.encode_ordinary(c), gpt2.encode_ordinary(x)) for c, x in texts]
    one = score(ours, requests, batch_size=1)
    batched = score(ours, requests, batch_size=3)
    for (context, continuation), a, b in zip(requests, one, batched, strict=True):
        assert a.tokens == b.tokens == len(continuation)
        assert abs(a.logprob - b.logprob) < 1e-5
        assert a.greedy == b.greedy
        assert abs(a.logprob - reference_logprob(theirs, context, continuation)) < 1e-4
    assert [i for i, _, _ in token_scores(ours, requests, batch_size=2)] == [
        2,
        4,
        0,
        1,
        3,
    ]  # longest first, ties in order


def test_the_head_in_chunks_scores_as_in_one_piece(ours, gpt2, monkeypatch):
    """Positions go through the output head HEAD_CHUNK at a time; chunk edges change nothing, the
    first-token mask included."""
    context = gpt2.encode_ordinary("What do you think of this")

    def greedy_after(ids: list[int]) -> int:
        return int(ours(torch.tensor([ids]))[0][0, -1].argmax())

    # Odd requests continue greedily (right), even ones with a masked, non-greedy first token (wrong).
    requests = []
    for n in range(1, 7):
        first = greedy_after(context[:n]) if n % 2 else (greedy_after(context[:n]) + 1) % gpt2.n_vocab
        requests.append((context[:n], [first, greedy_after([*context[:n], first])]))
    mask = torch.zeros(ours.config.vocab_size, dtype=torch.bool)
    mask[[first for _, (first, _) in requests]] = True
    whole = score(ours, requests, first_token_mask=mask, batch_size=6)
    monkeypatch.setattr("model.scoring.HEAD_CHUNK", 3)
    chunked = score(ours, requests, first_token_mask=mask, batch_size=6)
    assert [s.greedy for s in whole] == [True, False] * 3
    assert [s.greedy for s in chunked] == [s.greedy for s in whole]
    assert [s.logprob for s in chunked] == pytest.approx([s.logprob for s in whole], abs=1e-5)


def test_greedy_means_argmax_reproduces_every_token(ours, theirs, gpt2):
    context = gpt2.encode_ordinary("What do you")
    greedy = []
    for _ in range(3):
        greedy.append(int(reference_rows(theirs, context + greedy, [0])[0].argmax()))
    wrong_last = greedy[:2] + [(greedy[2] + 1) % gpt2.n_vocab]
    right, wrong = score(ours, [(context, greedy), (context, wrong_last)])
    assert right.greedy and not wrong.greedy


@pytest.mark.parametrize("length", [1, 2, 30, 48, 49, 50, 97, 173])
@pytest.mark.parametrize("stride", [1, 7, 24, 48])
def test_rolling_windows_score_every_token_once(length, stride):
    ids = np.arange(length)
    windows = rolling_requests(ids, BLOCK, stride)
    predicted = np.concatenate([continuation for _, continuation in windows] or [ids[:0]])
    assert predicted.tolist() == list(range(1, length))
    for number, (context, continuation) in enumerate(windows):
        window = np.concatenate([context, continuation])
        assert window.tolist() == list(range(window[0], window[-1] + 1))  # contiguous
        assert len(window) <= BLOCK + 1
        if number:
            assert len(continuation) <= stride and len(window) == BLOCK + 1  # full context after the first


def test_rolling_logprob_equals_transformers_windows(ours, theirs, gpt2):
    ids = [gpt2.eot_token, *gpt2.encode_ordinary(" ".join(f"word{i} and more" for i in range(40)))]
    assert len(ids) > 3 * BLOCK
    for stride in (11, BLOCK):
        windows = rolling_requests(ids, BLOCK, stride)
        total = sum(s.logprob for s in score(ours, windows, batch_size=4))
        assert abs(total - reference_rolling(theirs, ids, stride)) < 1e-3
    short = ids[:30]  # one window: the plain sum over the text
    assert (
        abs(
            sum(s.logprob for s in score(ours, rolling_requests(short, BLOCK, 7)))
            - reference_logprob(theirs, short[:1], short[1:])
        )
        < 1e-4
    )


# ---------------------------------------------------------------------- LAMBADA


@pytest.fixture(scope="module")
def lambada_texts(theirs, gpt2):
    """Passages built from the model's own predictions after "Once" + six random word tokens: three whose
    greedy next token is a word (right), one whose argmax is a stop word but whose best other token is a
    word (right only with the stop filter), two ending in another word, and a long one (context cut)."""
    texts = [gpt2.decode([i]) for i in range(gpt2.n_vocab)]
    words = [
        i for i, t in enumerate(texts) if re.fullmatch(" [a-z]{3,}", t) and gpt2.encode_ordinary(t) == [i]
    ]
    is_word, stops = set(words), stop_mask(gpt2)
    generator = torch.Generator().manual_seed(1)
    contexts = torch.tensor(words)[torch.randint(len(words), (500, 6), generator=generator)]
    contexts = torch.cat([torch.tensor(gpt2.encode_ordinary("Once")).expand(500, -1), contexts], 1)
    with torch.no_grad():
        logits = theirs.transformer(contexts).last_hidden_state[:, -1] @ theirs.lm_head.weight.T
    top, filtered = logits.argmax(-1).tolist(), logits.masked_fill(stops, float("-inf")).argmax(-1).tolist()
    right = [i for i in range(500) if top[i] in is_word and not stops[top[i]]][:3]
    stopped = next(i for i in range(500) if stops[top[i]] and filtered[i] in is_word)
    wrong = [i for i in range(500) if words[i] not in (top[i], filtered[i])][:2]
    passages = [gpt2.decode(contexts[i].tolist() + [top[i]]) for i in right]
    passages.append(gpt2.decode(contexts[stopped].tolist() + [filtered[stopped]]))
    passages += [gpt2.decode(contexts[i].tolist() + [words[i]]) for i in wrong]
    passages.append(" ".join(["Once upon a time in a land far away"] * 8) + " lived the Zanzibarians")
    return passages


def reference_lambada(theirs, gpt2, passages, protocol: str) -> tuple[float, float, float]:
    """(accuracy, accuracy with the stop-word filter, perplexity) as lm-evaluation-harness defines them;
    the filter as the paper's on words: no stop-word prediction (the answer's own first token aside), so
    a stop-word answer is wrong; under last-token only a one-token word is filtered."""
    right, right_filtered, logprobs = [], [], []
    for passage in passages:
        context, word = passage.rsplit(" ", 1)
        context, target = gpt2.encode_ordinary(context), gpt2.encode_ordinary(" " + word)
        filtered = protocol == "last-word" or len(target) == 1
        if protocol == "last-token":
            context, target = context + target[:-1], target[-1:]
        rows = reference_rows(theirs, context, target)
        predicted = rows.argmax(-1)
        right.append(predicted.tolist() == target)
        if filtered:
            mask = stop_mask(gpt2)
            mask[target[0]] = False
            predicted[0] = rows[0].masked_fill(mask, float("-inf")).argmax()
        right_filtered.append(predicted.tolist() == target and word.lower() not in STOP_WORDS)
        logprobs.append(rows.gather(-1, torch.tensor(target)[:, None]).sum().item())
    count = len(passages)
    return sum(right) / count, sum(right_filtered) / count, math.exp(-sum(logprobs) / count)


def write_lambada(path, passages):
    path.write_text("".join(json.dumps({"text": passage}) + "\n" for passage in passages))
    return path


@pytest.mark.parametrize("protocol", ["last-word", "last-token"])
def test_lambada_equals_transformers(ours, theirs, gpt2, lambada_texts, protocol, tmp_path):
    path = write_lambada(tmp_path / "lambada_test.jsonl", lambada_texts)
    plain = evaluate(ours, gpt2, "lambada", path, protocol=protocol, batch_size=3)
    filtered = evaluate(ours, gpt2, "lambada", path, protocol=protocol, stop_filter=True, batch_size=3)
    acc, acc_filtered, ppl = reference_lambada(theirs, gpt2, lambada_texts, protocol)
    assert 0 < acc < acc_filtered < 1  # the stop-word case turns right, the wrong ones stay wrong
    assert value(plain, "acc", protocol) == acc
    assert value(filtered, "acc", f"{protocol}+stop-filter") == acc_filtered
    for results in (plain, filtered):  # the filter changes predictions, not probabilities
        assert value(results, "ppl", protocol) == pytest.approx(ppl, rel=1e-5)
        assert all(r.examples == len(lambada_texts) for r in results)


def test_stop_filter_spares_the_answer_and_never_predicts_a_stop_word(ours, gpt2, tmp_path):
    """A masked token that is the answer's own first token is no stop-word prediction (" In" of "Ingrid");
    an answer that is a stop word is never predicted under the filter."""
    context = gpt2.encode_ordinary("Once upon a time")
    greedy: list[int] = []
    for _ in range(2):
        greedy.append(int(ours(torch.tensor([context + greedy]))[0][0, -1].argmax()))
    mask = torch.zeros(ours.config.vocab_size, dtype=torch.bool)
    mask[greedy[0]] = True
    (spared,) = score(ours, [(context, greedy)], first_token_mask=mask)
    assert spared.greedy
    other = torch.zeros_like(mask)
    other[greedy[1]] = True  # blocking the answer's second token changes nothing: only first tokens
    assert score(ours, [(context, greedy)], first_token_mask=other)[0].greedy

    stop_answer = gpt2.decode(context) + " the"
    path = write_lambada(tmp_path / "lambada_test.jsonl", [stop_answer])
    plain, filtered = (evaluate(ours, gpt2, "lambada", path, stop_filter=f) for f in (False, True))
    assert value(filtered, "acc") == 0.0
    assert value(plain, "ppl") == value(filtered, "ppl")


def test_lambada_protocols_differ_on_a_multi_token_word(ours, gpt2, lambada_texts, tmp_path):
    path = write_lambada(tmp_path / "lambada_test.jsonl", lambada_texts)
    word, token = (evaluate(ours, gpt2, "lambada", path, protocol=p) for p in ("last-word", "last-token"))
    assert word[0].tokens > token[0].tokens == len(lambada_texts)
    assert value(word, "ppl") != pytest.approx(value(token, "ppl"))


# ---------------------------------------------------------------------- CBT


CBT_SENTENCES = [
    "`` Where are you going ? '' asked the Rabbit .",
    "The Cat did n't answer , but looked at the sky .",
    "`` It 's late , '' said Alice , `` and the Queen is waiting . ''",
    "So they walked on through the wood until the path ended .",
]
CBT_QUESTIONS = [
    ("`` I think the XXXXX is lost , '' said Alice .", ("Rabbit", "Cat", "sky", "Queen")),
    ("The XXXXX did n't say a word .", ("wood", "path", "Cat", "Alice")),
]


def test_cbt_equals_transformers(ours, theirs, gpt2, tmp_path):
    """The answer of the first question is the reference's choice, the second's is not: accuracy 1/2."""
    detokenize = DETOKENIZERS["cbt"]
    sentences = [CBT_SENTENCES[i % len(CBT_SENTENCES)] for i in range(20)]
    context = gpt2.encode_ordinary(detokenize(" ".join(sentences)))
    lines = []
    for number, (query, candidates) in enumerate(CBT_QUESTIONS):
        logprobs = [
            reference_logprob(
                theirs, context, gpt2.encode_ordinary(" " + detokenize(query.replace("XXXXX", c)))
            )
            for c in candidates
        ]
        best = max(range(len(candidates)), key=logprobs.__getitem__)
        answer = candidates[best if number == 0 else (best + 1) % len(candidates)]
        lines += [f"{i} {s}" for i, s in enumerate(sentences, start=1)]
        lines += [f"21 {query}\t{answer}\t\t{'|'.join(candidates)}", ""]
    path = tmp_path / "cbtest_CN_test_2500ex.txt"
    path.write_text("\n".join(lines) + "\n")
    (result,) = evaluate(ours, gpt2, "cbt-cn", path, batch_size=5)
    assert (result.task, result.protocol, result.metric) == ("cbt-cn", "sentence+detokenizer=cbt", "acc")
    assert result.value == 0.5 and result.examples == 2


# ---------------------------------------------------------------------- HellaSwag


HELLASWAG_ITEMS = [
    ("Baking cookies", "A woman is in a kitchen.", "she"),
    ("Washing a car", "A man sprays water on a red car.", "then he"),
    ("Playing guitar", "A boy sits on a bench with a guitar.", "he"),
]
HELLASWAG_ENDINGS = [
    "sings.",
    "mixes the flour and sugar in a bowl.",
    "puts on a very long apron that reaches all the way down to the floor of the kitchen and the garden.",
    "opens the oven door.",
]


def test_hellaswag_acc_and_acc_norm_equal_transformers(ours, theirs, gpt2, tmp_path):
    """acc_norm divides by the ending's length in characters, as lm-evaluation-harness's len(choice)."""
    lines, acc, acc_norm = [], [], []
    for number, (activity, ctx_a, ctx_b) in enumerate(HELLASWAG_ITEMS):
        context = gpt2.encode_ordinary(f"{activity}: {ctx_a} {ctx_b.capitalize()}")
        logprobs = [
            reference_logprob(theirs, context, gpt2.encode_ordinary(" " + e)) for e in HELLASWAG_ENDINGS
        ]
        normed = [lp / len(e) for lp, e in zip(logprobs, HELLASWAG_ENDINGS, strict=True)]
        best, best_normed = (max(range(4), key=values.__getitem__) for values in (logprobs, normed))
        label = [best, best_normed, 3 - best][number]
        acc.append(best == label)
        acc_norm.append(best_normed == label)
        item = {"activity_label": activity, "ctx_a": ctx_a, "ctx_b": ctx_b, "endings": HELLASWAG_ENDINGS}
        lines.append(json.dumps({"ind": number, **item, "label": label, "split": "val"}))
    assert acc != acc_norm  # the fixture tells the two metrics apart
    path = tmp_path / "hellaswag_val.jsonl"
    path.write_text("\n".join(lines) + "\n")
    results = evaluate(ours, gpt2, "hellaswag", path, batch_size=7)
    assert value(results, "acc") == sum(acc) / 3
    assert value(results, "acc_norm") == sum(acc_norm) / 3


# ---------------------------------------------------------------------- WikiText, held-out loss


WIKITEXT_ARTICLES = [
    " \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : Unrecorded Chronicles is a tactical role @-@"
    " playing video game developed by Sega and Media.Vision for the PlayStation Portable . Released in"
    " January 2011 in Japan , it is the third game in the Valkyria series . \n \n = = Gameplay = = \n \n"
    ' As with previous games , the story follows the " Nameless " , a penal unit of 1 @,@ 000 soldiers'
    " serving the nation of Gallia during the Second Europan War . \n \n",
    " = Tower Building of the Little Rock Arsenal = \n \n The Tower Building of the Little Rock Arsenal ,"
    " also known as U.S. Arsenal Building , is a building located in MacArthur Park in downtown Little Rock"
    " , Arkansas . It was built in 1840 , and was part of Little Rock 's first military installation . \n",
]


def test_wikitext_word_perplexity_and_bits_per_byte_equal_transformers(ours, theirs, gpt2, tmp_path):
    path = tmp_path / "wiki.test.tokens"
    path.write_text("".join(WIKITEXT_ARTICLES))
    results = evaluate(ours, gpt2, "wikitext", path, stride=16, batch_size=4)
    total = tokens = size = 0
    for article in WIKITEXT_ARTICLES:
        fed = DETOKENIZERS["wikitext"](article)
        ids = [gpt2.eot_token, *gpt2.encode_ordinary(fed)]
        assert len(ids) > BLOCK + 1  # more than one window per article
        total += reference_rolling(theirs, ids, 16)
        tokens, size = tokens + len(ids) - 1, size + len(fed.encode())
    with open(path, encoding="utf-8") as lines:  # PyTorch word_language_model's count: words + <eos> a line
        words = sum(len(line.split()) + 1 for line in lines)
    assert {r.protocol for r in results} == {"stride=16+detokenizer=wikitext"}
    assert {(r.examples, r.tokens) for r in results} == {(2, tokens)}
    assert value(results, "word_ppl") == pytest.approx(math.exp(-total / words), rel=1e-5)
    assert value(results, "token_ppl") == pytest.approx(math.exp(-total / tokens), rel=1e-5)
    assert value(results, "bits_per_byte") == pytest.approx(-total / size / math.log(2), rel=1e-5)


PTB_LINES = [
    " no it was n't black monday \n",
    " but while the new york stock exchange did n't fall apart friday as the dow jones industrial average"
    " plunged N points most of it in the final hour it barely managed to stay this side of chaos \n",
    " the <unk> of the market was $ N billion \n",
]


def test_ptb_scores_its_first_lines_as_one_document(ours, theirs, gpt2, tmp_path):
    path = tmp_path / "ptb.test.txt"
    path.write_text("".join(PTB_LINES))
    results = evaluate(ours, gpt2, "ptb", path, limit=2, stride=BLOCK)
    fed = DETOKENIZERS["ptb"]("".join(PTB_LINES[:2]))
    ids = [gpt2.eot_token, *gpt2.encode_ordinary(fed)]
    total = reference_rolling(theirs, ids, BLOCK)
    words = sum(len(line.split()) + 1 for line in PTB_LINES[:2])  # one <eos> per line
    assert {(r.protocol, r.examples, r.tokens) for r in results} == {
        (f"stride={BLOCK}+detokenizer=ptb", 1, len(ids) - 1)
    }
    assert value(results, "word_ppl") == pytest.approx(math.exp(-total / words), rel=1e-5)


def test_heldout_loss_equals_training_windows(ours, theirs, tmp_path):
    """A shard of 1 + 4 blocks scores as training's val windows; a second one ends in a partial window."""
    generator = np.random.default_rng(0)
    exact, ragged = (
        generator.integers(0, 50257, 1 + 4 * BLOCK),
        generator.integers(0, 50257, 1 + 2 * BLOCK + 5),
    )
    write_shard(tmp_path / "webtext_val_000000.bin", exact)
    write_shard(tmp_path / "webtext_val_000001.bin", ragged)
    write_shard(tmp_path / "webtext_train_000000.bin", np.zeros(500, dtype=np.int64))  # not held out
    losses = []
    with torch.no_grad():
        for start in range(0, 4 * BLOCK, BLOCK):
            x = torch.from_numpy(exact[start : start + BLOCK]).long()
            y = torch.from_numpy(exact[start + 1 : start + BLOCK + 1]).long()
            losses.append(F.cross_entropy(theirs(x[None]).logits[0].float(), y, reduction="sum").item())
    total = -sum(losses) + reference_rolling(theirs, ragged.tolist(), BLOCK)
    count = 4 * BLOCK + 2 * BLOCK + 5
    results = evaluate(ours, None, "heldout", tmp_path, batch_size=3)
    assert value(results, "loss", f"stride={BLOCK}") == pytest.approx(-total / count, rel=1e-5)
    assert value(results, "ppl") == pytest.approx(math.exp(-total / count), rel=1e-5)
    assert {(r.examples, r.tokens) for r in results} == {(4 + 3, count)}


# ---------------------------------------------------------------------- the command


def test_cli_writes_table_and_json(ours, hf_dir, gpt2, gpt2_dir, lambada_texts, tmp_path):
    path = write_lambada(tmp_path / "lambada_test.jsonl", lambada_texts)
    out = tmp_path / "results.json"
    args = [
        "eval",
        "--hf-dir",
        str(hf_dir),
        "--vocab",
        str(gpt2_dir),
        "--task",
        "lambada",
        "--data",
        str(path),
    ]
    options = ["--protocol", "last-token", "--stop-filter", "--batch-size", "2", "--no-progress"]
    run = CliRunner().invoke(main, [*args, *options, "--json", str(out)])
    assert run.exit_code == 0, run.output
    expected = evaluate(ours, gpt2, "lambada", path, protocol="last-token", stop_filter=True, batch_size=2)
    lines = run.output.splitlines()
    assert lines[0].split() == ["task", "protocol", "metric", "value", "examples", "tokens", "seconds"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["lambada", r.protocol, r.metric, f"{r.value:.4f}"] for r in expected
    ]
    report = json.loads(out.read_text())
    assert (report["task"], report["data"], report["model"]["hf_dir"]) == ("lambada", str(path), str(hf_dir))
    assert report["model"]["block_size"] == BLOCK and report["options"]["batch_size"] == 2
    assert (report["options"]["protocol"], report["options"]["stop_filter"]) == ("last-token", True)
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in report["results"]]
    assert rows == [
        {"task": "lambada", "protocol": r.protocol, "metric": r.metric, "value": pytest.approx(r.value)}
        | {"examples": r.examples, "tokens": r.tokens}
        for r in expected
    ]


def test_cli_evaluates_a_checkpoint_in_bfloat16_into_a_new_directory(ours, gpt2, gpt2_dir, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"  # the trainer's format
    state = {"config": dataclasses.asdict(ours.config), "model": ours.state_dict(), "optimizer": {}}
    torch.save({**state, "step": 1, "train_config": {}, "loaders": [], "rng": []}, checkpoint)
    text = tmp_path / "notes.txt"
    text.write_text("".join(PTB_LINES) + "Plain text, not tokenized: anything goes here.\n")
    out = tmp_path / "new" / "dir" / "text.json"
    args = ["eval", "--checkpoint", str(checkpoint), "--vocab", str(gpt2_dir), "--task", "text"]
    run = CliRunner().invoke(main, [*args, "--data", str(text), "--dtype", "bfloat16", "--json", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads(out.read_text())
    assert (
        report["options"] | {"dtype": "bfloat16", "detokenizer": "none", "stride": BLOCK // 2}
        == report["options"]
    )
    exact = {r.metric: r.value for r in evaluate(ours, gpt2, "text", text)}
    assert {row["metric"]: row["value"] for row in report["results"]} == pytest.approx(exact, rel=0.05)


def limit_file_size() -> None:
    """The kernel refuses writes past 100 bytes (EFBIG), to root too: a disk full when the report is written."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))


def test_cli_json_that_cannot_be_written_is_one_line_naming_it(hf_dir, gpt2_dir, tmp_path):
    text = tmp_path / "ptb.test.txt"
    text.write_text("".join(PTB_LINES))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    args = ["eval", "--hf-dir", str(hf_dir), "--vocab", str(gpt2_dir), "--task", "ptb", "--data", str(text)]
    for json_path in (a_file / "ptb.json", a_file / "deeper" / "ptb.json"):
        run = CliRunner().invoke(main, [*args, "--no-progress", "--json", str(json_path)])
        assert run.exit_code == 1 and "Traceback" not in run.output, run.output
        assert run.output.splitlines() == [f"Error: {a_file}: not a directory (a file is there)"]  # no table
    # A write that fails once the scores are in (a full disk) is one line too, after the table.
    json_path = tmp_path / "ptb.json"
    command = [sys.executable, "-m", "webtext.cli", *args, "--no-progress", "--json", str(json_path)]
    run = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.stdout.startswith("task") and run.stderr.splitlines() == [
        f"Error: {json_path}: File too large"
    ]


def test_encode_pair_moves_the_context_s_trailing_space_as_lm_evaluation_harness(gpt2):
    context, continuation = encode_pair(gpt2, "A man talks. ", " He cooks.")
    assert context == gpt2.encode_ordinary("A man talks.")
    assert [gpt2.decode([i]) for i in continuation] == [" ", " He", " cooks", "."]
    assert encode_pair(gpt2, "A man talks.", " He cooks.")[1] == gpt2.encode_ordinary(" He cooks.")


def test_cli_heldout_needs_no_vocab(hf_dir, tmp_path):
    write_shard(tmp_path / "webtext_val_000000.bin", np.arange(200))
    write_manifest(tmp_path, SUMMARY_FILE, SHARD_GLOB)
    run = CliRunner(env={"WEBTEXT_VOCAB": None}).invoke(
        main, ["eval", "--hf-dir", str(hf_dir), "--task", "heldout", "--data", str(tmp_path), "--no-progress"]
    )
    assert run.exit_code == 0, run.output
    assert run.output.splitlines()[1].split()[:3] == ["heldout", f"stride={BLOCK}", "loss"]


def test_cli_errors_name_the_file_and_line(hf_dir, gpt2_dir, tmp_path):
    path = tmp_path / "lambada_test.jsonl"
    path.write_text('{"text": "a fine passage"}\n{"text": "cut sho\n')
    not_a_checkpoint = tmp_path / "weights.pt"
    torch.save({"step": 1}, not_a_checkpoint)
    runner = CliRunner(env={"WEBTEXT_VOCAB": str(gpt2_dir)})
    common = ["eval", "--task", "lambada", "--data", str(path), "--no-progress"]
    bad_data = runner.invoke(main, [*common, "--hf-dir", str(hf_dir)])
    assert bad_data.exit_code == 1
    assert f"{path}:2: not JSON" in bad_data.output
    assert "Traceback" not in bad_data.output
    bad_checkpoint = runner.invoke(main, [*common, "--checkpoint", str(not_a_checkpoint)])
    assert bad_checkpoint.exit_code == 1
    assert "not a training checkpoint" in bad_checkpoint.output
    misplaced = runner.invoke(main, [*common, "--hf-dir", str(hf_dir), "--stride", "8"])
    assert misplaced.exit_code == 2
    assert "--stride does not apply to --task lambada" in misplaced.output


def test_cli_reruns_an_evaluation_from_its_json_or_printed_config(hf_dir, gpt2_dir, tmp_path):
    text = tmp_path / "ptb.test.txt"
    text.write_text("".join(PTB_LINES))
    runner = CliRunner(env={"WEBTEXT_VOCAB": str(gpt2_dir)})
    common = ["eval", "--hf-dir", str(hf_dir), "--no-progress"]

    def results(*args: str) -> tuple[dict, list]:
        out = tmp_path / f"run{len(list(tmp_path.glob('run*.json')))}.json"
        run = runner.invoke(main, [*common, *args, "--json", str(out)])
        assert run.exit_code == 0, run.output
        report = json.loads(out.read_text())
        return report["config"], [{k: v for k, v in r.items() if k != "seconds"} for r in report["results"]]

    config, first = results("--task", "ptb", "--data", str(text), "--stride", "8", "--limit", "3")
    assert config == {"task": "ptb", "data": str(text), "stride": 8, "limit": 3} | {
        "batch_size": 32,
        "dtype": "float32",
        "stop_filter": False,
    }
    assert results("--config", str(tmp_path / "run0.json")) == (config, first)
    printed = runner.invoke(main, [*common, "--config", str(tmp_path / "run0.json"), "--print-config"])
    assert printed.exit_code == 0 and 'task = "ptb"' in printed.output
    (tmp_path / "eval.toml").write_text(printed.output)
    assert results("--config", str(tmp_path / "eval.toml")) == (config, first)
    # flags override the file; settings of another task are refused, naming the flag
    assert results("--config", str(tmp_path / "eval.toml"), "--limit", "2")[1] != first
    misplaced = runner.invoke(
        main, [*common, "--config", str(tmp_path / "eval.toml"), "--protocol", "last-token"]
    )
    assert misplaced.exit_code == 2 and "--protocol does not apply to --task ptb" in misplaced.output
    missing = runner.invoke(main, [*common, "--data", str(text)])
    assert missing.exit_code == 2 and "missing --task" in missing.output
