"""Each document rule fires on a text crafted for it and not on a good article; language id; the hash."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webtext import filters
from webtext.filters import FilterRules, detect_language, filter_rejection, normalized_text_hash

SENTENCES = [
    "The old lighthouse on the northern cape was built in 1868 to guide fishing boats through the narrow strait.",
    "For more than a century its keepers lived in a small stone cottage at the foot of the tower with their families.",
    "They kept detailed logs of the weather, the ships that passed, and the birds that nested on the rocks below.",
    "When the light was automated in 1979, the last keeper moved to the village and gave his notebooks to the museum.",
    "Historians have since used those notebooks to reconstruct how storms in the region changed over a hundred years.",
    "One of them, a retired teacher, spent six winters copying the entries by hand into a searchable database.",
    "Her work showed that severe storms have become more frequent, though not necessarily stronger, since the 1950s.",
    "The museum now plans to restore the cottage and open it to visitors who want to see how the keepers lived.",
    "Volunteers have already repaired the roof, and a local carpenter is rebuilding the wooden stairs by hand.",
    "If the funding comes through, the cottage will open next summer with an exhibition about the keepers' lives.",
]
GOOD = "\n".join(" ".join(SENTENCES[i : i + 2]) for i in range(0, len(SENTENCES), 2))
ANY_LANGUAGE = FilterRules(languages=())

FRENCH = (
    "Le vieux phare du cap nord a été construit en 1868 pour guider les bateaux de pêche à travers le détroit. "
    "Pendant plus d'un siècle, ses gardiens ont vécu dans une petite maison de pierre au pied de la tour. "
    "Ils tenaient des carnets détaillés sur le temps qu'il faisait, les navires qui passaient et les oiseaux. "
    "Lorsque le phare a été automatisé en 1979, le dernier gardien a donné ses carnets au musée du village. "
    "Les historiens ont depuis utilisé ces carnets pour reconstituer l'évolution des tempêtes dans la région."
)
GERMAN = (
    "Der alte Leuchtturm am nördlichen Kap wurde 1868 gebaut, um Fischerboote durch die enge Meerenge zu führen. "
    "Mehr als ein Jahrhundert lang lebten seine Wärter mit ihren Familien in einem kleinen Steinhaus am Fuß des Turms."
)
JAPANESE = (
    "北の岬にある古い灯台は、狭い海峡を通る漁船を導くために1868年に建てられました。"
    "百年以上にわたり、灯台守たちは家族とともに塔のふもとにある小さな石造りの家で暮らしていました。"
)


def test_a_good_article_is_kept():
    result = filter_rejection(GOOD)
    assert (result.reason, result.kept, result.language) == (None, True, "en")
    assert result.language_score > 0.65


@pytest.mark.parametrize(
    ("text", "language"), [(GOOD, "en"), (FRENCH, "fr"), (GERMAN, "de"), (JAPANESE, "ja")]
)
def test_detect_language(text, language):
    detected, score = detect_language(text)
    assert detected == language
    assert score > 0.65


def test_no_text_has_no_language():
    assert detect_language(" \n\t ") == ("", 0.0)


def test_language_id_works_offline_and_writes_nothing(tmp_path):
    """The lite model ships in the package: no socket, no download, no cache files."""
    code = (
        "import socket\n"
        "def refuse(*args, **kwargs): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from webtext.filters import detect_language\n"
        "print(detect_language('The keepers kept detailed logs of the weather and the ships.')[0])\n"
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "TMPDIR": str(scratch),
        "FTLANG_CACHE": str(tmp_path / "cache"),
    }
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert (run.returncode, run.stdout.strip()) == (0, "en"), run.stderr
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["tmp"]


def test_non_english_is_rejected_with_its_language():
    result = filter_rejection(FRENCH)
    assert (result.reason, result.language) == (filters.LANGUAGE, "fr")


def test_language_rules_are_configurable():
    # French passes language id once allowed; Gopher's English stop-word rule then still applies.
    assert filter_rejection(FRENCH, FilterRules(languages=("en", "fr"))).reason == filters.STOP_WORDS
    assert filter_rejection(FRENCH, FilterRules(languages=("fr",), min_stop_words=0)).reason is None
    assert filter_rejection(GOOD, FilterRules(min_language_score=0.9999)).reason == filters.LANGUAGE


def _bullets(text: str, every: int = 1) -> str:
    return "\n".join(f"- {line}" if i % every == 0 else line for i, line in enumerate(text.split("\n")))


def _varied(template: str, count: int) -> str:
    """`count` different sentences built around the same phrase."""
    return "\n".join(template.format(SENTENCES[i % len(SENTENCES)].split()[1], i) for i in range(count))


NOTICES = [
    "This website uses cookies to improve your experience; by browsing you agree to our cookie policy.",
    "Please enable JavaScript in your browser settings to see the comments and the interactive map.",
    "Read our privacy policy to learn how the newsletter team handles the data you give to us.",
    "Terms of use apply to all content on this site, including the photographs and the recordings.",
]


@pytest.mark.parametrize(
    ("text", "rules", "reason"),
    [
        (GOOD[:400], FilterRules(), filters.TOO_SHORT),
        (GOOD + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", FilterRules(), filters.LOREM_IPSUM),
        (GOOD.replace("1868", "{1868}"), FilterRules(reject_curly_braces=True), filters.CURLY_BRACE),
        (" ".join(["Internationalization"] * 30), ANY_LANGUAGE, filters.TOO_FEW_WORDS),
        (GOOD, FilterRules(max_words=100), filters.TOO_MANY_WORDS),
        ("I am to go up. So we do it. " * 20, ANY_LANGUAGE, filters.MEAN_WORD_LENGTH),
        (" ".join(["the characteristically incomprehensible administrations"] * 20), ANY_LANGUAGE, filters.MEAN_WORD_LENGTH),
        (GOOD + "\n" + " ".join(f"#tag{i}" for i in range(30)), FilterRules(), filters.SYMBOL_RATIO),
        (GOOD.replace(",", "...").replace(" the ", " the... "), FilterRules(), filters.SYMBOL_RATIO),
        (GOOD + "\n" + " ".join(str(1000 + 7 * i) for i in range(60)), FilterRules(), filters.ALPHABETIC_WORDS),
        ("\n".join(f"Fresh apples, pears, plums {i}: sold daily from farms near Oslo." for i in range(12)), ANY_LANGUAGE, filters.STOP_WORDS),
        (_bullets(GOOD), FilterRules(), filters.BULLET_LINES),
        ("\n".join(s[:-1] + "..." if i % 2 else s for i, s in enumerate(SENTENCES)), FilterRules(), filters.ELLIPSIS_LINES),
        ("\n".join(NOTICES + SENTENCES[:2]), FilterRules(), filters.NOTICE_LINES),
        (GOOD + "\nShare this story." * 5, FilterRules(), filters.DUPLICATE_LINES),
        (GOOD + "\n" + GOOD.split("\n")[0] + "\n" + GOOD.split("\n")[1], FilterRules(), filters.DUPLICATE_LINE_CHARS),
        (
            "\n\n".join(GOOD.split("\n") + GOOD.split("\n")[:2]),
            FilterRules(max_duplicate_line_fraction=1, max_duplicate_line_char_fraction=1),
            filters.DUPLICATE_PARAGRAPH_CHARS,
        ),
        (
            "\n\n".join(["Share this.", "Like us."] * 6 + SENTENCES),
            FilterRules(max_duplicate_line_fraction=1, max_duplicate_line_char_fraction=1),
            filters.DUPLICATE_PARAGRAPHS,
        ),
        (_varied("Climate change is the {0} story of year {1}.", 30), FilterRules(), filters.TOP_NGRAM),
        ("\n".join(f"{SENTENCES[i]} {SENTENCES[(i + 1) % 10]}" for i in range(10)), FilterRules(), filters.DUPLICATE_NGRAMS),
    ],
)  # fmt: skip
def test_each_rule_rejects_its_crafted_text(text, rules, reason):
    assert filter_rejection(text, rules).reason == reason


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        (FilterRules(min_chars=5000), filters.TOO_SHORT),
        (FilterRules(min_words=500), filters.TOO_FEW_WORDS),
        (FilterRules(max_mean_word_length=4), filters.MEAN_WORD_LENGTH),
        (FilterRules(min_stop_words=100), filters.STOP_WORDS),
        (FilterRules(max_top_ngram_char_fraction=((2, 0.01),)), filters.TOP_NGRAM),
        (FilterRules(max_duplicate_ngram_char_fraction=((2, 0.05),)), filters.DUPLICATE_NGRAMS),
    ],
)
def test_tighter_thresholds_reject_the_good_article(rules, reason):
    assert filter_rejection(GOOD, rules).reason == reason


def test_looser_thresholds_keep_what_defaults_reject():
    bulleted = _bullets(GOOD)
    assert filter_rejection(bulleted).reason == filters.BULLET_LINES
    assert filter_rejection(bulleted, FilterRules(max_bullet_line_fraction=1.0)).reason is None
    code_like = GOOD.replace("1868", "{1868}")
    assert filter_rejection(code_like).reason is None  # C4's curly-brace rule is off by default


@given(text=st.text(max_size=400))
def test_filtering_never_raises(text):
    everything = FilterRules(min_chars=0, languages=(), min_words=0, min_mean_word_length=0, min_stop_words=0)
    result = filter_rejection(text, everything)
    assert result.reason is None or result.reason in filters.FILTER_REASONS


def test_reasons_are_listed_once():
    assert len(set(filters.FILTER_REASONS)) == len(filters.FILTER_REASONS)


def test_a_200_kb_document_filters_in_milliseconds():
    rng = random.Random(0)
    vocabulary = sorted({word.strip(".,'") for sentence in SENTENCES for word in sentence.split()})
    lines = []
    while sum(map(len, lines)) < 200_000:
        words = [rng.choice(vocabulary) for _ in range(rng.randint(20, 60))]
        lines.append(" ".join(words).capitalize() + ".")
    text = "\n".join(lines)
    detect_language(GOOD)  # the model loads once a process; that is not per-document cost
    timings = []
    for _ in range(3):  # best of three: a busy machine should not fail the test
        started = time.perf_counter()
        result = filter_rejection(text)
        timings.append(time.perf_counter() - started)
    assert result.kept, result  # so every rule ran
    assert min(timings) < 0.2


@pytest.mark.parametrize(
    "variant",
    [
        "hello world",
        "  Hello   World \n",
        "HELLO\tWORLD",
        "Hello\u00a0World",  # no-break space
        "\uff28\uff45\uff4c\uff4c\uff4f\u3000\uff37\uff4f\uff52\uff4c\uff44",  # full-width letters and space
    ],
)
def test_normalized_hash_ignores_layout_case_and_presentation(variant):
    expected = hashlib.blake2b(b"hello world", digest_size=16).hexdigest()
    assert normalized_text_hash(variant) == expected


def test_normalized_hash_separates_different_texts():
    assert normalized_text_hash("\ufb01ne print") == normalized_text_hash("fine print")  # ligature
    hashes = {normalized_text_hash(text) for text in ("hello world", "hello world!", "hello  worlds", "")}
    assert len(hashes) == 4
    assert all(len(h) == 32 and int(h, 16) >= 0 for h in hashes)
