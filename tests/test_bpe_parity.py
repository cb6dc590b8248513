"""Our ids equal OpenAI's GPT-2 ids (tiktoken built offline from the same files, and HF tokenizers)."""

from __future__ import annotations

import os
import random
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bpe
import bpe.encoding
from bpe.encoding import _BATCH_IN_PROCESS_CHARS


@pytest.fixture(scope="module", params=["c-extension", "pure-python"])
def gpt2(request, gpt2_dir) -> bpe.Encoding:
    """Every test here runs on both merge paths: the C extension and the pure-Python fallback."""
    if request.param == "pure-python":
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bpe.encoding, "_NativeMerger", None)
            encoding = bpe.load(gpt2_dir)
        assert encoding._bpe == encoding._bpe_python
        return encoding
    if bpe.encoding._NativeMerger is None:
        reason = "bpe._merge is not built (no C compiler when the package was installed)"
        if os.environ.get("CI"):  # CI's machine has gcc: a missing extension is a broken build there
            pytest.fail(reason)
        pytest.skip(reason)
    encoding = bpe.load(gpt2_dir)
    assert isinstance(encoding._bpe.__self__, bpe.encoding._NativeMerger)
    return encoding


PROSE = """\
It was the best of times, it was the worst of times. We've all heard that; they'd say it's true,
I'm sure you'll agree. Language models are unsupervised multitask learners — GPT-2's paper (2019)
trained a 1.5B-parameter Transformer on WebText: 8 million documents, 40 GB of text, scraped from
45 million outbound Reddit links with ≥ 3 karma. "Quotes", 'single quotes', and (parentheses)...
Dr. Smith paid $1,234.56 on 2019-02-14 at 10:30am; that's 15% off! Isn't it?  Double  spaces.
"""

CODE = '''\
def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


class Node:
\tdef __init__(self, value):\r\n\t\tself.value = value  # tabs and CRLF
if (x != 0 && y >= 2) { return x << 3 | y; }  /* C-ish */ std::vector<int> v{1, 2, 3};
SELECT id, COUNT(*) FROM docs WHERE score >= 3 GROUP BY id HAVING COUNT(*) > 1;
<div class="main"><p>Hello&nbsp;world</p></div>  {"key": [1, 2.5e-3, null, true]}
'''

EMAIL = """\
From: Alice Example <alice@example.com>
To: bob+filter@mail.example.org
Subject: Re: [webtext] Fwd: meeting notes =?UTF-8?B?w6lsw6h2ZQ==?=
Date: Tue, 14 Feb 2019 10:30:00 +0000
Content-Type: text/plain; charset="utf-8"

> On Mon, Bob wrote:
> > Can we meet at 3pm?
Sure -- see you then.

--
Alice | https://example.com/~alice?ref=sig&utm_source=mail#top
"""

SCRIPTS = """\
中文：语言模型是无监督的多任务学习者。日本語：言語モデルは教師なしマルチタスク学習者です。カタカナ、ひらがな。
한국어: 언어 모델은 비지도 다중 작업 학습자입니다. Русский: Языковые модели — это обучающиеся без учителя.
Ελληνικά: Τα γλωσσικά μοντέλα. العربية: نماذج اللغة هي متعلمات متعددة المهام. עברית: מודלים של שפה.
हिन्दी: भाषा मॉडल बिना पर्यवेक्षण के सीखते हैं। ไทย: แบบจำลองภาษา ქართული: ენის მოდელები አማርኛ: የቋንቋ ሞዴሎች
Tiếng Việt: Mô hình ngôn ngữ. Türkçe: Dil modelleri denetimsiz öğrenir. Français: « élève » où ça ? Ñandú. ß ẞ
Zalgo: Z̴̡̛a̷̧͝l̵̨̛g̶̢̛o̸̢̕ — combining marks; full-width: ＡＢＣ１２３；math: ∀x∈ℝ, ∑ᵢ xᵢ² ≤ ∞ ½ ⅔ ① ⑩
"""

EMOJI = (
    "👋🏽 Hi! 👨‍👩‍👧‍👦 family, 🇺🇸🇯🇵 flags, ❤️‍🔥, 🧑🏿‍💻 coder, 1️⃣ keycap, ☃︎ text style, 🫠🪿 new ones 😀😀😀"
)

WHITESPACE = [
    " " * 1000,
    "\n" * 500,
    "a" + " " * 37 + "b",
    "\t\t\n \n\r\n  \u00a0\u2003\u3000x",
    "line\n\n\n    indented\n" * 20,
    "trailing spaces   ",
    "   ",
    "\n \n \n ",
    "x \n",
    "",
]


def _random_piece(alphabet: str, length: int = 100_000, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choices(alphabet, k=length))


LONG_PIECES = {
    "ascii-letters": _random_piece(string.ascii_letters),
    "lowercase": _random_piece(string.ascii_lowercase, seed=1),
    "one-letter": "a" * 100_000,
    "digits": _random_piece(string.digits),
    "punctuation": _random_piece("!@#$%^&*()-=+[]{};:,.<>/?|~`"),
    "cjk": _random_piece("".join(map(chr, range(0x4E00, 0x4E00 + 3000)))),
    "accented": _random_piece("éèêëàâäôöûüçñ"),
    "spaces-then-word": " " * 100_000 + "word",
    "base64ish": _random_piece(string.ascii_letters + string.digits + "+/"),
}

TEXTS = {"prose": PROSE, "code": CODE, "email": EMAIL, "scripts": SCRIPTS, "emoji": EMOJI}
TEXTS.update({f"whitespace-{i}": text for i, text in enumerate(WHITESPACE)})


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_same_ids_as_tiktoken(gpt2, tiktoken_gpt2, name):
    text = TEXTS[name]
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)
    assert gpt2.decode(gpt2.encode(text)) == text


@pytest.mark.parametrize("name", sorted(LONG_PIECES))
def test_long_single_pieces_match_tiktoken(gpt2, tiktoken_gpt2, name):
    text = LONG_PIECES[name]
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_same_ids_as_hf_tokenizers(gpt2, hf_gpt2, name):
    text = TEXTS[name]
    assert gpt2.encode_ordinary(text) == hf_gpt2.encode(text, add_special_tokens=False).ids


def test_known_ids(gpt2):
    # Ids from OpenAI's GPT-2 encoder, as printed in countless tutorials.
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.encode(" the") == [262]
    assert gpt2.encode("<|endoftext|>", allowed_special="all") == [50256]


# Hypothesis: any Unicode text (all categories but surrogates), plus texts biased towards the regex's
# tricky boundaries: contractions, whitespace runs before letters, digits and symbols.
_TRICKY = st.sampled_from(
    ["'s", "'ll", "'S", " ", "  ", "\n", "\t", " \n", "'", "ab", "12", "!!", "é", "中", "🙂", "\r\n"]
)
_TEXTS = st.one_of(st.text(max_size=300), st.lists(_TRICKY, max_size=60).map("".join))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXTS)
def test_hypothesis_same_ids_as_tiktoken_and_round_trip(gpt2, tiktoken_gpt2, text):
    ids = gpt2.encode_ordinary(text)
    assert ids == tiktoken_gpt2.encode_ordinary(text)
    assert gpt2.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["a", " ", "\ud800", "\udfff", "\ud83d\ude00", "é", "\n"]), max_size=30).map(
        "".join
    )
)
def test_lone_surrogates_become_replacement_character_like_tiktoken(gpt2, tiktoken_gpt2, text):
    ids = gpt2.encode(text)
    assert ids == tiktoken_gpt2.encode(text)
    expected = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert gpt2.decode(ids) == expected


def test_special_tokens_follow_tiktoken_rules(gpt2, tiktoken_gpt2):
    text = "a<|endoftext|>b <|endoftext|>"
    with pytest.raises(ValueError, match="disallowed special token '<\\|endoftext\\|>'"):
        gpt2.encode(text)
    for kwargs in (
        {"allowed_special": "all"},
        {"allowed_special": {"<|endoftext|>"}},
        {"disallowed_special": ()},
    ):
        assert gpt2.encode(text, **kwargs) == tiktoken_gpt2.encode(text, **kwargs)
    assert gpt2.encode(text, allowed_special="all").count(gpt2.eot_token) == 2
    assert gpt2.encode_ordinary(text) == gpt2.encode(text, disallowed_special=())
    # A name this vocabulary lacks is ignored when allowed (one set can serve several encodings) and
    # still refused when disallowed, as in tiktoken.
    shared = {"<|endoftext|>", "<|fim_prefix|>"}
    assert gpt2.encode("x<|fim_prefix|><|endoftext|>", allowed_special=shared) == tiktoken_gpt2.encode(
        "x<|fim_prefix|><|endoftext|>", allowed_special=shared
    )
    with pytest.raises(ValueError, match="disallowed special token '<\\|fim_prefix\\|>'"):
        gpt2.encode("x<|fim_prefix|>", disallowed_special={"<|fim_prefix|>"})


def test_encode_batch_in_worker_processes_equals_single_encode(gpt2):
    rng = random.Random(3)
    parts = list(TEXTS.values()) + [LONG_PIECES["ascii-letters"][:5000]]
    texts = ["".join(rng.choices(parts, k=rng.randint(4, 12))) for _ in range(300)]
    texts.append("doc <|endoftext|> with a special token")
    assert sum(map(len, texts)) > _BATCH_IN_PROCESS_CHARS  # large enough to fork workers
    expected = [gpt2.encode(text, allowed_special="all") for text in texts]
    assert gpt2.encode_batch(texts, num_workers=2, allowed_special="all") == expected
    assert gpt2.encode_batch(texts, num_workers=2, allowed_special="all") == expected  # now warm
    assert gpt2.encode_ordinary_batch(texts[:3], num_workers=1) == [
        gpt2.encode_ordinary(t) for t in texts[:3]
    ]
    with pytest.raises(ValueError, match="disallowed special token"):
        gpt2.encode_batch(texts, num_workers=2)
    with pytest.raises(ValueError, match="disallowed special token"):  # raised inside a forked worker
        gpt2.encode_batch(texts[:-1] + texts[-1:] * 200, num_workers=2, disallowed_special={"<|endoftext|>"})


def test_encode_batch_brings_the_workers_cache_entries_home(gpt2_dir):
    fresh = bpe.load(gpt2_dir)
    texts = [f"document {i}: " + " ".join(f"w{i}x{j}" for j in range(2000)) for i in range(80)]
    fresh.encode_ordinary_batch(texts, num_workers=2)
    pieces = {piece for text in texts for piece in fresh._pretokenizer.findall(text)}
    assert pieces <= fresh._cache.keys()  # the next batch starts warm, whichever process saw a piece


# Long pieces from a few repeated chunks: the rounds merge many pairs at once, then hand over to the heap
# mid-piece; both must give tiktoken's ids wherever the hand-over falls.
_CHUNKS = st.lists(
    st.sampled_from(["a", "aa", "ab", "0", "00", "12", "-", "==", "xyz", "é", "q"]), max_size=6
)


@given(chunks=_CHUNKS.filter(bool), repeats=st.integers(60, 600), tail=st.text("abcz09-", max_size=40))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_hypothesis_long_repetitive_pieces_match_tiktoken(gpt2, tiktoken_gpt2, chunks, repeats, tail):
    piece = "".join(chunks) * repeats + tail
    ids = list(map(gpt2._byte_ids.__getitem__, piece.encode()))
    expected = tiktoken_gpt2._encode_single_piece(piece)
    assert list(gpt2._bpe(piece.encode())) == expected
    assert list(gpt2._bpe_long(ids)) == expected
    assert list(gpt2._bpe_heap(list(ids))) == expected


@pytest.mark.parametrize("alphabet", [string.ascii_lowercase, string.digits + "-=", "aé中 "])
def test_pieces_on_both_sides_of_the_heap_thresholds_match_tiktoken(gpt2, tiktoken_gpt2, alphabet):
    rng = random.Random(5)
    # The pure-Python path switches at 48 and 256 bytes, the C one at 96 and (the GIL) 4096.
    for length in (*range(40, 60), *range(90, 100), *range(250, 262), *range(4090, 4100)):
        piece = "".join(rng.choices(alphabet, k=length)).encode()
        assert list(gpt2._bpe(piece)) == tiktoken_gpt2._encode_single_piece(piece)
