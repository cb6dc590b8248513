"""Task readers: tiny files in each task's published format read to exact fields; malformed ones name the
file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.tasks import (
    ChoiceExample,
    ClozeExample,
    LambadaExample,
    TaskDataError,
    read_cbt,
    read_hellaswag,
    read_lambada,
    read_text,
    wikitext_articles,
    word_count,
)


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def raises_at(reader, path, line: int) -> str:
    """The reader's TaskDataError message, checked to begin with "path:line: "."""
    with pytest.raises(TaskDataError) as e:
        reader(path)
    message = str(e.value)
    assert message.startswith(f"{path}:{line}: "), message
    return message


# LAMBADA


def test_lambada_splits_off_the_last_word(tmp_path):
    lines = [
        json.dumps({"text": "He held out his hand and said , quietly, goodbye Julia"}),
        "",  # blank lines are skipped
        json.dumps({"text": "“Where is it?” she asked. “In the cellar,” said Tom"}, ensure_ascii=False),
    ]
    path = write(tmp_path, "lambada_test.jsonl", "\n".join(lines) + "\n")
    assert read_lambada(path) == [
        LambadaExample(context="He held out his hand and said , quietly, goodbye", word="Julia"),
        LambadaExample(context="“Where is it?” she asked. “In the cellar,” said", word="Tom"),
    ]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('{"text": "one two"', "not JSON"),
        ("[" * 10_000, "not JSON (nested too deeply)"),
        ('["text", "one two"]', "JSON object"),
        ('{"txt": "one two"}', "'text'"),
        ('{"text": 7}', "'text'"),
        ('{"text": "oneword"}', "no space"),
        ('{"text": "ends with a space "}', "space"),
    ],
)
def test_lambada_errors_name_the_line(tmp_path, line, error):
    good = json.dumps({"text": "a fine example"})
    path = write(tmp_path, "lambada_test.jsonl", f"{good}\n\n{line}\n{good}\n")
    assert error in raises_at(read_lambada, path, 3)


def test_undecodable_bytes_name_their_line(tmp_path):
    path = write(tmp_path, "lambada_test.jsonl", b'{"text": "a b"}\n{"text": "a b"}\n{"text": "a \xff b"}\n')
    assert "UTF-8" in raises_at(read_lambada, path, 3)
    assert "UTF-8" in raises_at(read_text, path, 3)


# CBT

CANDIDATES = "ancestors|baby|boy|everyone|fairies|mother|portrait|queen|time|walls"
QUERY = "replied the XXXXX ; for the king 's aunts were old-fashioned , and did not approve of her ."


def cbt_lines(query: str = QUERY, answer: str = "queen", candidates: str = CANDIDATES) -> list[str]:
    """One example as the published files write it: 20 numbered sentences, the question line, a blank."""
    sentences = [f"{n} Sentence number {n} , said the king ." for n in range(1, 21)]
    return [*sentences, f"21 {query}\t{answer}\t\t{candidates}", ""]


def test_cbt_examples_read_exactly(tmp_path):
    second = cbt_lines("`` XXXXX ! '' cried the baby .", "baby")[:-1]  # the last example lacks its blank line
    path = write(tmp_path, "cbtest_CN_test_2500ex.txt", "\n".join(cbt_lines() + second) + "\n")
    context = " ".join(f"Sentence number {n} , said the king ." for n in range(1, 21))
    candidates = tuple(CANDIDATES.split("|"))
    assert read_cbt(path) == [
        ClozeExample(context=context, query=QUERY, candidates=candidates, answer=7),
        ClozeExample(
            context=context, query="`` XXXXX ! '' cried the baby .", candidates=candidates, answer=1
        ),
    ]


def test_cbt_reads_files_with_crlf_and_no_final_newline(tmp_path):
    path = write(tmp_path, "cbtest_NE_test_2500ex.txt", "\r\n".join(cbt_lines() + cbt_lines()[:-1]))
    assert [e.answer for e in read_cbt(path)] == [7, 7]


def test_cbt_sentence_line_may_be_a_bare_number(tmp_path):
    lines = cbt_lines()
    lines[4] = "5"  # an empty sentence: it adds nothing to the context
    path = write(tmp_path, "cbtest_CN_test_2500ex.txt", "\n".join(lines))
    expected = " ".join(f"Sentence number {n} , said the king ." for n in range(1, 21) if n != 5)
    assert read_cbt(path)[0].context == expected


@pytest.mark.parametrize(
    ("lines", "line", "error"),
    [
        (cbt_lines()[:4] + ["6 Skipped a number ."] + cbt_lines()[5:], 5, "expected line 5 of an example"),
        (cbt_lines()[:4] + ["5Sentence without its space"] + cbt_lines()[5:], 5, "expected line 5"),
        (cbt_lines()[:10] + [""] + cbt_lines()[10:], 11, "blank line after 10 sentences"),
        (cbt_lines()[:20] + [f"21 {QUERY}\tqueen\t{CANDIDATES}", ""], 21, "query<TAB>answer"),
        (cbt_lines()[:20] + [f"21 {QUERY} queen {CANDIDATES}", ""], 21, "query<TAB>answer"),
        (cbt_lines("no blank here ."), 21, "XXXXX exactly once"),
        (cbt_lines("XXXXX and XXXXX ."), 21, "XXXXX exactly once"),
        (cbt_lines(answer="king"), 21, "'king' is not among"),
        (cbt_lines(candidates="baby||queen"), 21, "empty candidate"),
        (cbt_lines()[:12], 13, "file ends after 12 sentences"),
    ],
)
def test_cbt_errors_name_the_line(tmp_path, lines, line, error):
    path = write(tmp_path, "cbtest_CN_test_2500ex.txt", "\n".join(cbt_lines() + lines))
    assert error in raises_at(read_cbt, path, line + 22)


# HellaSwag

ACTIVITYNET = {
    "ind": 24,
    "activity_label": "Roof shingle removal",
    "ctx_a": "A man is sitting on a roof.",
    "ctx_b": "he",
    "endings": [
        "is using wrap to wrap a pair of skis.",
        "is ripping level tiles off.",
        "is holding a rubik's cube.",
        "starts pulling up roofing on a roof.",
    ],
    "source_id": "activitynet~v_-JhWjGDPHMY",
    "split": "val",
    "split_type": "indomain",
    "label": 3,
}
WIKIHOW = {
    "activity_label": "Home and Garden",
    "ctx_a": "[header] How to grow tomatoes [title] Choose a sunny spot.",
    "ctx_b": "pick a Spot with full sun",
    "endings": [
        "[substeps] Water   daily.",
        " Stake the plants [title] Use cages [step] Water. ",
        "Dig a hole.",
        "Buy seeds.",
    ],
    "label": "1",
}


def test_hellaswag_applies_lm_evaluation_harness_preprocessing(tmp_path):
    path = write(tmp_path, "hellaswag_val.jsonl", f"{json.dumps(ACTIVITYNET)}\n{json.dumps(WIKIHOW)}\n")
    assert read_hellaswag(path) == [
        ChoiceExample(
            context="Roof shingle removal: A man is sitting on a roof. He",
            endings=tuple(ACTIVITYNET["endings"]),
            answer=3,
        ),
        ChoiceExample(
            # " [title]" becomes ". ", tags go, then one pass of "  " -> " "; str.capitalize lowers the rest
            context="Home and Garden: How to grow tomatoes. Choose a sunny spot. Pick a spot with full sun",
            endings=(" Water  daily.", "Stake the plants. Use cages Water.", "Dig a hole.", "Buy seeds."),
            answer=1,
        ),
    ]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"ctx_b": None}, "'ctx_b'"),
        ({"activity_label": 3}, "'activity_label'"),
        ({"endings": "one ending"}, "'endings'"),
        ({"endings": ["only one"]}, "'endings'"),
        ({"endings": ["a", 2]}, "'endings'"),
        ({"label": 4}, "'label'"),
        ({"label": "x"}, "'label'"),
        ({"label": True}, "'label'"),
        ({"label": None}, "'label'"),
        ({"endings": ["He cooks.", "[step]", "Eats.", "Runs."]}, "empty after preprocessing"),
    ],
)
def test_hellaswag_errors_name_the_line(tmp_path, change, error):
    bad = {k: v for k, v in {**ACTIVITYNET, **change}.items() if v is not None}
    path = write(tmp_path, "hellaswag_val.jsonl", f"{json.dumps(ACTIVITYNET)}\n{json.dumps(bad)}\n")
    assert error in raises_at(read_hellaswag, path, 2)


@pytest.mark.parametrize("reader", [read_lambada, read_cbt, read_hellaswag])
def test_a_file_without_examples_is_refused(tmp_path, reader):
    assert "no examples" in raises_at(reader, write(tmp_path, "empty.txt", "\n\n"), 1)


# raw text, WikiText articles, word counts

WIKITEXT = (
    " \n"
    " = Robert Boulter = \n"
    " \n"
    " Robert Boulter is an English film , television and theatre actor . \n"
    " \n"
    " = = Career = = \n"
    " \n"
    " = = = 2000 – 2005 = = = \n"
    " In 2000 Boulter had a guest @-@ starring role on the television series The Bill . \n"
    " \n"
    " = Du Fu = \n"
    " \n"
    " Du Fu ( Wade – Giles : Tu Fu ; 712 – 770 ) was a prominent Chinese poet . \n"
    " \n"
)


def test_read_text_keeps_the_file_exactly(tmp_path):
    text = "line one\r\nline two é\n\nlast line without newline"
    assert read_text(write(tmp_path, "wiki.test.tokens", text)) == text


def test_wikitext_articles_split_at_titles_only():
    articles = wikitext_articles(WIKITEXT)
    assert "".join(articles) == WIKITEXT
    assert articles[0].startswith(" \n = Robert Boulter = \n")  # the file's first blank line included
    assert " = = Career = = \n" in articles[0] and " = = = 2000 – 2005 = = = \n" in articles[0]
    assert articles[1].startswith(" = Du Fu = \n")
    assert len(articles) == 2


def test_wikitext_articles_keep_text_before_the_first_title():
    assert wikitext_articles("preamble \n = A = \n a \n = B = \n b") == [
        "preamble \n",
        " = A = \n a \n",
        " = B = \n b",
    ]
    assert wikitext_articles(" no title here \n") == [" no title here \n"]
    assert wikitext_articles("") == []


def test_word_count_adds_one_eos_per_line_blank_lines_included():
    assert (
        word_count(" no it was n't black monday \n but while the new york stock exchange \n") == 6 + 1 + 7 + 1
    )
    # Every line ends in an <eos>, blank ones too (word_language_model / AWD-LSTM); headings count their "="s.
    assert word_count(WIKITEXT) == sum(len(line.split()) + 1 for line in WIKITEXT.splitlines())
    assert word_count(" = Du Fu = \n \n") == 4 + 1 + 1
    assert word_count("last line without newline") == 5
    assert word_count("") == 0
    assert sum(map(word_count, wikitext_articles(WIKITEXT))) == word_count(WIKITEXT)


def test_the_bundled_samples_read_in_every_format():
    """samples/eval holds one small hand-written file per task format for the demo: each must parse."""
    samples = Path(__file__).resolve().parents[1] / "samples" / "eval"
    assert [e.word for e in read_lambada(samples / "lambada_sample.jsonl")][:2] == ["mountains", "library"]
    assert [
        (e.candidates[e.answer], len(e.context) > 500) for e in read_cbt(samples / "cbtest_CN_sample.txt")
    ] == [
        ("wheel", True),
        ("gold", True),
    ]
    hellaswag = read_hellaswag(samples / "hellaswag_sample.jsonl")
    assert [e.answer for e in hellaswag] == [0, 0, 1]
    assert (
        hellaswag[1].context
        == "Home and Garden: How to water a plant. Check the soil. Push a finger into the soil"
    )
    text = read_text(samples / "wiki.sample.tokens")
    titles = [
        next(line for line in article.split("\n") if line.strip()) for article in wikitext_articles(text)
    ]
    assert titles == [
        " = Mill Creek Bridge = ",
        " = Harbour Light = ",
    ]
