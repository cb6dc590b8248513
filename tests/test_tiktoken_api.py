"""`bpe` as a drop-in for tiktoken: tiktoken's own public-API tests for gpt2, pointed at `bpe`.

tiktoken's package ships no tests, so its tests/test_encoding.py, test_offsets.py, test_pickle.py and
test_simple_public.py are restated here for the gpt2 encoding, each behaviour checked on `bpe` and, where
a value is not spelled out, against tiktoken's gpt2 built offline from the same files (conftest).
"""

from __future__ import annotations

import gc
import inspect
import pickle
import threading

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest
import tiktoken

import bpe

ROUNDTRIP = [
    "hello",
    "hello ",
    "hello  ",
    " hello",
    " hello ",
    " hello  ",
    "hello world",
    "请考试我的软件！12345",
]


def _public(obj) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


def test_every_public_name_of_tiktoken_encoding_is_here_with_its_keywords(gpt2):
    missing = _public(tiktoken.Encoding) - _public(gpt2)
    assert not missing
    for name in _public(tiktoken.Encoding):
        theirs = getattr(tiktoken.Encoding, name)
        if not callable(theirs):
            continue
        ours = inspect.signature(getattr(bpe.Encoding, name)).parameters
        for parameter in inspect.signature(theirs).parameters.values():
            assert parameter.name in ours, f"{name}() lacks {parameter.name}"
            assert ours[parameter.name].kind == parameter.kind, f"{name}({parameter.name})"


def test_simple(gpt2):
    assert gpt2.encode("hello world") == [31373, 995]
    assert gpt2.decode([31373, 995]) == "hello world"
    assert gpt2.encode("hello <|endoftext|>", allowed_special="all") == [31373, 220, 50256]
    for token in range(10_000):
        assert gpt2.encode_single_token(gpt2.decode_single_token_bytes(token)) == token


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("0", [15]),
        ("00", [405]),
        ("000", [830]),
        ("0000", [2388]),
        ("00000", [20483]),
        ("000000", [10535]),
        ("0000000", [24598]),
        ("00000000", [8269]),
        ("000000000", [10535, 830]),
        ("0000000000", [8269, 405]),
        ("00000000000", [8269, 830]),
        ("000000000000", [8269, 2388]),
        ("0000000000000", [8269, 20483]),
        ("00000000000000", [8269, 10535]),
        ("000000000000000", [8269, 24598]),
        ("0000000000000000", [25645]),
        ("00000000000000000", [8269, 10535, 830]),
    ],
)
def test_simple_repeated(gpt2, text, ids):
    assert gpt2.encode(text) == ids


def test_basic_encode_and_empty(gpt2):
    assert gpt2.encode("hello world") == [31373, 995]
    assert gpt2.encode("") == []
    assert gpt2.encode_to_numpy("hello world").tolist() == [31373, 995]
    assert gpt2.encode_to_numpy("hello world").dtype == np.uint32


def test_surrogates(gpt2, tiktoken_gpt2):
    assert gpt2.encode("👍") == gpt2.encode("\ud83d\udc4d") == tiktoken_gpt2.encode("👍")  # a pair is joined
    assert gpt2.encode("\ud83d") == gpt2.encode("\ufffd")  # a lone one replaced
    assert gpt2.encode("a\ud800b c", disallowed_special=()) == tiktoken_gpt2.encode("a\ud800b c")


@pytest.mark.parametrize("value", ROUNDTRIP)
def test_basic_roundtrip(gpt2, value):
    assert gpt2.decode(gpt2.encode(value)) == value
    assert gpt2.decode(gpt2.encode_ordinary(value)) == value


@hypothesis.given(text=st.text())
@hypothesis.settings(deadline=None, max_examples=100)
def test_hyp_roundtrip_and_special_ordinary(gpt2, text):
    assert gpt2.decode(gpt2.encode(text, disallowed_special=())) == text
    assert gpt2.encode_ordinary(text) == gpt2.encode(text, disallowed_special=())


def test_single_token_roundtrip(gpt2, tiktoken_gpt2):
    for token in range(gpt2.n_vocab):
        assert gpt2.encode_single_token(gpt2.decode_single_token_bytes(token)) == token
    assert gpt2.token_byte_values() == tiktoken_gpt2.token_byte_values()


@pytest.mark.parametrize("c", ["^", "0", "a", "'s", " ", "\n"])
def test_catastrophically_repetitive(gpt2, tiktoken_gpt2, c):
    for value in (c * 10_000, " " + c * 10_000, " " + c * 10_000 + "\n"):
        assert gpt2.decode(gpt2.encode(value)) == value
        assert gpt2.encode(value) == tiktoken_gpt2.encode(value)


def test_special_token(gpt2):
    eot = gpt2.encode_single_token("<|endoftext|>")
    assert eot == gpt2.eot_token == 50256 and gpt2.is_special_token(eot) and not gpt2.is_special_token(1)
    text = "<|endoftext|> hello <|fim_prefix|>"
    assert eot not in gpt2.encode(text, disallowed_special=())
    for kwargs in ({}, {"disallowed_special": "all"}, {"disallowed_special": {"<|endoftext|>"}}):
        with pytest.raises(ValueError, match="disallowed special token"):
            gpt2.encode(text, **kwargs)
    with pytest.raises(ValueError):  # a name gpt2 lacks is still refused when disallowed, as in tiktoken
        gpt2.encode(text, disallowed_special={"<|fim_prefix|>"})
    assert eot in gpt2.encode(text, allowed_special="all", disallowed_special=())
    assert gpt2.encode(text, allowed_special={"<|endoftext|>", "<|fim_prefix|>"}).count(eot) == 1
    assert gpt2.special_tokens_set == {"<|endoftext|>"} and gpt2.max_token_value == 50256 == gpt2.n_vocab - 1


def test_batch_encode_and_decode(gpt2):
    texts = ["hello world", "goodbye world"]
    assert gpt2.encode_batch(texts[:1]) == [gpt2.encode(texts[0])]
    assert gpt2.encode_batch(texts, num_threads=2) == [gpt2.encode(t) for t in texts]
    assert gpt2.encode_ordinary_batch(texts, num_threads=8) == [gpt2.encode_ordinary(t) for t in texts]
    encoded = gpt2.encode_batch(texts)
    assert gpt2.decode_batch(encoded, num_threads=2) == texts
    assert gpt2.decode_bytes_batch(encoded) == [t.encode() for t in texts]
    for bad in (0, -1):
        for call in (
            lambda: gpt2.encode_batch(texts, num_threads=bad),  # noqa: B023 - called at once
            lambda: gpt2.encode_ordinary_batch(texts, num_threads=bad),  # noqa: B023
            lambda: gpt2.decode_batch(encoded, num_threads=bad),  # noqa: B023
            lambda: gpt2.decode_bytes_batch(encoded, num_threads=bad),  # noqa: B023
        ):
            with pytest.raises(ValueError, match="num_threads must be at least 1"):
                call()
    with pytest.raises(TypeError):
        gpt2.encode_batch(texts, num_threads=2, num_workers=2)


@hypothesis.given(batch=st.lists(st.text(max_size=50), max_size=8))
@hypothesis.settings(deadline=None, max_examples=50)
def test_hyp_batch_roundtrip(gpt2, batch):
    encoded = gpt2.encode_batch(batch, disallowed_special=())
    assert encoded == [gpt2.encode(t, disallowed_special=()) for t in batch]
    assert gpt2.decode_batch(encoded) == batch


@pytest.mark.parametrize(
    ("prompt", "offsets"),
    [
        ("hello world", [0, 5]),
        ("hello world<|endoftext|> green cow", [0, 5, 11, 24, 30]),
        ("我非常渴望与人工智能一起工作", None),
        ("நடிகர் சூர்யா", None),
        (" Ġ除", None),
    ],
)
def test_basic_offsets(gpt2, tiktoken_gpt2, prompt, offsets):
    tokens = gpt2.encode(prompt, allowed_special="all")
    text, found = gpt2.decode_with_offsets(tokens)
    assert text == prompt
    assert found == (offsets or tiktoken_gpt2.decode_with_offsets(tokens)[1])
    with pytest.raises(UnicodeDecodeError):
        gpt2.decode_with_offsets([gpt2.encode_single_token(b"\xe4")])


def _offsets_reference(enc, tokens: list[int]) -> list[int]:
    """tiktoken's test_offsets reference: the common prefix of the text and each prefix's decoding."""
    text = enc.decode(tokens, errors="strict")
    offsets = []
    for i in range(len(tokens)):
        prefix = enc.decode(tokens[:i], errors="ignore")
        offsets.append(
            next((k for k, (a, b) in enumerate(zip(text, prefix)) if a != b), min(len(text), len(prefix)))
        )
    return offsets


@hypothesis.given(tokens=st.lists(st.integers(0, 50256), min_size=1, max_size=20))
@hypothesis.settings(deadline=None, max_examples=100)
def test_hyp_offsets(gpt2, tokens):
    tokens = gpt2.encode(gpt2.decode(tokens, errors="ignore"), allowed_special="all")
    assert gpt2.decode_with_offsets(tokens)[1] == _offsets_reference(gpt2, tokens)


@pytest.mark.parametrize(
    "text",
    [
        "hello fanta",
        "hello",
        "hello ",
        "a\n\n",
        "x  ",
        "<|endoftext|>",
        "a<|endoftext|>b c",
        "naïve caf",
        "1234",
        "",
    ],
)
def test_encode_with_unstable_as_tiktoken(gpt2, tiktoken_gpt2, text):
    stable, completions = gpt2.encode_with_unstable(text, allowed_special="all")
    theirs, their_completions = tiktoken_gpt2.encode_with_unstable(text, allowed_special="all")
    assert stable == theirs
    assert completions == sorted(their_completions)
    assert text.encode().startswith(gpt2.decode_bytes(stable))
    assert all(gpt2.decode_bytes(stable + c).startswith(text.encode()) for c in completions)
    with pytest.raises(ValueError, match="disallowed"):
        gpt2.encode_with_unstable("a<|endoftext|>")


def test_faults_raise_tiktokens_exception_types(gpt2, tiktoken_gpt2):
    cases = [
        (lambda enc: enc.decode([50257]), KeyError, bpe.UnknownTokenError),
        (lambda enc: enc.decode_single_token_bytes(50257), KeyError, bpe.UnknownTokenError),
        (lambda enc: enc.decode_tokens_bytes([1, 50257]), KeyError, bpe.UnknownTokenError),
        (lambda enc: enc.decode([-1]), OverflowError, bpe.TokenRangeError),
        (lambda enc: enc.decode([50257, 2**40]), OverflowError, bpe.TokenRangeError),  # conversion first
        (lambda enc: enc.decode(np.array([-1])), OverflowError, bpe.TokenRangeError),
        (lambda enc: enc.decode([1.0]), TypeError, bpe.TokenTypeError),
        (lambda enc: enc.decode(["a"]), TypeError, bpe.TokenTypeError),
        (lambda enc: enc.decode([[1]]), TypeError, bpe.TokenTypeError),
        (lambda enc: enc.encode_single_token("hello world"), KeyError, bpe.UnknownTokenError),
        (lambda enc: enc.is_special_token(1.0), AssertionError, bpe.TokenTypeError),
    ]
    for call, tiktoken_type, ours in cases:
        with pytest.raises(tiktoken_type):
            call(tiktoken_gpt2)
        with pytest.raises(ours) as raised:
            call(gpt2)
        assert isinstance(raised.value, tiktoken_type | ValueError)
    assert "token id 50257 is not in the vocabulary" in str(
        pytest.raises(KeyError, gpt2.decode, [50257]).value
    )
    assert gpt2.decode([True, np.int64(2)]) == tiktoken_gpt2.decode([True, np.int64(2)])
    no_eot = bpe.Encoding(
        "bytes", pat_str=gpt2.pat_str, vocab={bytes([b]): b for b in range(256)}, merges=[], special_tokens={}
    )
    with pytest.raises(KeyError):
        no_eot.eot_token  # noqa: B018 - the property raises
    assert not hasattr(no_eot, "eot_token") and issubclass(bpe.MissingEndOfTextError, AttributeError)


def test_pickle(gpt2):
    again = pickle.loads(pickle.dumps(gpt2))
    assert again.encode("hello world") == gpt2.encode("hello world")
    assert again.encode_with_unstable("hello fanta") == gpt2.encode_with_unstable("hello fanta")


def test_encode_from_many_threads_leaves_the_collector_alone(gpt2, gpt2_dir):
    # A cold encoding, so every thread runs BPE; the collector must stay on throughout (it was switched
    # off during each call, and concurrent calls could leave it off for good), and the ids stay right.
    fresh = bpe.load(gpt2_dir)
    # Pieces past 4096 bytes merge in C with the GIL released, while other threads run.
    texts = [
        f"thread {i}: " + " ".join(f"w{i}x{j}" for j in range(300)) + "\ud800 " + f"{i}ab" * 2000
        for i in range(16)
    ]
    expected = [gpt2.encode_ordinary(t) for t in texts]
    results: dict[int, list[int]] = {}
    states = []
    barrier = threading.Barrier(len(texts))

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(3):
            results[i] = fresh.encode_ordinary(texts[i])
            states.append(gc.isenabled())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled() and all(states)
    assert [results[i] for i in range(len(texts))] == expected


def _program(enc) -> list:
    """Every public call of tiktoken's Encoding, as code written for tiktoken makes them."""
    text = "Hello world <|endoftext|> naïve café 👍 1234567890\n\n  x"
    ids = enc.encode(text, allowed_special={"<|endoftext|>", "<|fim_prefix|>"})
    stable, completions = enc.encode_with_unstable("hello fanta")
    return [
        enc.name,
        enc.n_vocab,
        enc.max_token_value,
        enc.eot_token,
        sorted(enc.special_tokens_set),
        ids,
        enc.encode(text, disallowed_special=()),
        enc.encode_ordinary(text),
        enc.encode_to_numpy(text, allowed_special="all").tolist(),
        enc.encode_batch([text, "b"], num_threads=2, allowed_special="all"),
        enc.encode_ordinary_batch([text, "b"], num_threads=2),
        enc.encode_single_token("hello"),
        enc.encode_single_token(b"<|endoftext|>"),
        enc.decode(ids),
        enc.decode(ids[:3], errors="strict"),
        enc.decode_bytes(ids),
        enc.decode_single_token_bytes(262),
        enc.decode_tokens_bytes(ids),
        enc.decode_with_offsets(ids),
        enc.decode_batch([ids, ids[:2]], num_threads=2),
        enc.decode_bytes_batch([ids], num_threads=1),
        len(enc.token_byte_values()),
        enc.token_byte_values()[:300],
        enc.is_special_token(50256),
        enc.is_special_token(262),
        stable,
        sorted(completions),
    ]


def test_swapping_tiktoken_for_bpe_changes_no_output(gpt2, tiktoken_gpt2):
    theirs = tiktoken.Encoding(
        "gpt2",
        pat_str=tiktoken_gpt2._pat_str,
        mergeable_ranks=tiktoken_gpt2._mergeable_ranks,
        special_tokens=tiktoken_gpt2._special_tokens,
    )
    assert _program(bpe.get_encoding("gpt2")) == _program(theirs)
