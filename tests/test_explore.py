"""`webtext explore`'s JSON API on the tiny random GPT-2: probabilities equal transformers', the knobs cut
as `generate` cuts, the KV-cached table equals an uncached one, bad requests are a 4xx with a message."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F
from tiny_gpt2 import save_tiny_hf_gpt2

import bpe
from model.explore import Explorer, make_server
from model.explore.server import MAX_BODY_BYTES
from model.hf import load_hf
from model.sample import continuation_logprobs
from model.scoring import next_token_logprobs

transformers = pytest.importorskip("transformers")

PROMPT = "What do you"
BLOCK = 64


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return save_tiny_hf_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_positions=BLOCK)


@pytest.fixture(scope="module")
def ours(hf_dir):
    return load_hf(hf_dir).eval()


@pytest.fixture(scope="module")
def enc():
    return bpe.get_encoding("gpt2")


@pytest.fixture(scope="module")
def url(ours, enc):
    server = make_server(
        Explorer(ours, enc, {"source": "tiny", "preset": None, "vocabulary": "gpt2"}), port=0
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post(url: str, path: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def theirs_last_logits(hf_dir, ids: list[int]) -> torch.Tensor:
    theirs = transformers.GPT2LMHeadModel.from_pretrained(hf_dir).eval()
    with torch.no_grad():
        return theirs(torch.tensor([ids])).logits[0, -1]


def test_next_is_a_softmax_of_transformers_last_logits(url, hf_dir, enc):
    status, answer = post(url, "/api/next", {"text": PROMPT, "k": 10})
    assert status == 200 and len(answer["options"]) == 10
    probs = F.softmax(theirs_last_logits(hf_dir, enc.encode(PROMPT)), dim=-1)
    top = torch.topk(probs, 10)
    assert [o["id"] for o in answer["options"]] == top.indices.tolist()
    assert [o["token"] for o in answer["options"]] == [enc.decode([i]) for i in top.indices.tolist()]
    for option, p in zip(answer["options"], top.values.tolist()):
        assert option["p"] == pytest.approx(p, rel=1e-4) and option["p_model"] == pytest.approx(p, rel=1e-4)
    assert answer["cut_mass"] == 0 and answer["tokens"] == 3 and not answer["truncated"]


def reference_knobs(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """The knobs written out once more: temperature, then the k largest, then the nucleus."""
    logits = logits / temperature
    keep = torch.zeros_like(logits, dtype=torch.bool)
    keep[torch.topk(logits, top_k).indices] = True
    probs = F.softmax(logits.masked_fill(~keep, float("-inf")), dim=-1)
    order = torch.argsort(probs, descending=True)
    before = probs[order].cumsum(0) - probs[order]  # mass of the tokens likelier than each
    probs[order[before >= top_p]] = 0
    return probs / probs.sum()


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.7, 20, 0.5), (1.5, 5, 1.0), (1.0, 0, 0.3)])
def test_the_knobs_cut_as_generate_does(url, hf_dir, enc, ours, temperature, top_k, top_p):
    knobs = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    status, answer = post(url, "/api/next", {"text": PROMPT, "k": 100, **knobs})
    assert status == 200
    logits = theirs_last_logits(hf_dir, enc.encode(PROMPT))
    expected = reference_knobs(logits, temperature, top_k or logits.numel(), top_p)
    kept = {o["id"]: o["p"] for o in answer["options"]}
    assert answer["kept_tokens"] == expected.count_nonzero()
    assert list(kept) == torch.topk(expected, min(100, answer["kept_tokens"])).indices.tolist()
    for token, p in kept.items():
        assert p == pytest.approx(expected[token].item(), rel=1e-4)
    cut = F.softmax(logits, -1)[expected == 0].sum().item()
    assert answer["cut_mass"] == pytest.approx(cut, abs=1e-5) and (cut > 0.1) == bool(top_k or top_p < 1)
    # /api/generate draws what GPT.generate draws with the same knobs and seed, from the listed tokens.
    idx = torch.tensor([enc.encode(PROMPT)])
    for seed in range(5):
        status, sampled = post(url, "/api/generate", {"text": PROMPT, "max_tokens": 3, "seed": seed, **knobs})
        generator = torch.Generator().manual_seed(seed)
        nucleus = top_p if top_p < 1 else None
        theirs = ours.generate(idx, 3, temperature, top_k or None, nucleus, generator)[0, 3:].tolist()
        assert status == 200 and [t["id"] for t in sampled["tokens"]] == theirs and expected[theirs[0]] > 0


def test_the_cached_table_equals_an_uncached_one(url, ours, enc):
    """Growing, edited in the middle, shortened, repeated: each answer is a fresh forward's."""
    texts = [PROMPT, PROMPT + " think", PROMPT + " think so", "What did you think so", "What", "What"]
    for text in texts:
        status, answer = post(url, "/api/next", {"text": text, "k": 5})
        expected = torch.topk(next_token_logprobs(ours, enc.encode(text)).exp(), 5)
        assert status == 200 and [o["id"] for o in answer["options"]] == expected.indices.tolist()
        assert [o["p"] for o in answer["options"]] == pytest.approx(expected.values.tolist(), rel=1e-4)


def test_score_gives_each_token_its_probability_and_rank(url, ours, enc):
    ids = enc.encode(PROMPT + " think of it")
    status, answer = post(url, "/api/score", {"text": PROMPT + " think of it"})
    expected = continuation_logprobs(ours, [enc.eot_token], ids)
    assert status == 200 and [t["id"] for t in answer["tokens"]] == ids
    assert [t["p"] for t in answer["tokens"]] == pytest.approx(expected.exp().tolist(), rel=1e-4)
    assert answer["loss"] == pytest.approx(-expected.mean().item(), rel=1e-5)
    assert answer["perplexity"] == pytest.approx(torch.exp(-expected.mean()).item(), rel=1e-5)
    for token in answer["tokens"]:
        assert len(token["top"]) == 5 and token["top"][0]["p"] >= token["p"]
        assert (token["rank"] == 1) == (token["top"][0]["token"] == token["token"])
    assert post(url, "/api/score", {"text": ""})[1] == {
        "tokens": [],
        "loss": None,
        "perplexity": None,
        "truncated": False,
    }


def test_a_text_longer_than_the_context_is_cut_from_the_left(url, ours, enc):
    text = " ".join(["word"] * (2 * BLOCK))
    status, answer = post(url, "/api/next", {"text": text, "k": 1})
    expected = next_token_logprobs(ours, enc.encode(text)[-BLOCK:]).argmax().item()
    assert status == 200 and answer["truncated"] and answer["tokens"] == BLOCK
    assert answer["options"][0]["id"] == expected
    assert post(url, "/api/score", {"text": text})[1]["truncated"]


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("/api/next", b"{not json", "not JSON"),
        ("/api/next", b"\xff\xfe", "not JSON"),
        ("/api/next", [PROMPT], "JSON object"),
        ("/api/next", {}, "'text' is required"),
        ("/api/next", {"text": 3}, "'text' must be str"),
        ("/api/next", {"text": PROMPT, "prompt": "x"}, "unknown fields ['prompt']"),
        ("/api/next", {"text": PROMPT, "k": 0}, "'k' must be in [1, 100]"),
        ("/api/next", {"text": PROMPT, "k": 101}, "'k' must be in [1, 100]"),
        ("/api/next", {"text": PROMPT, "k": True}, "'k' must be int"),
        ("/api/next", {"text": PROMPT, "temperature": 0}, "'temperature' must be in (0, 100]"),
        ("/api/next", {"text": PROMPT, "top_p": 1.5}, "'top_p' must be in (0, 1]"),
        ("/api/next", {"text": PROMPT, "top_k": -1}, "'top_k' must be >= 0"),
        ("/api/next", {"text": "x" * 100_001}, "at most 100,000 characters"),
        ("/api/generate", {"text": PROMPT, "max_tokens": 257}, "'max_tokens' must be in [1, 256]"),
        ("/api/generate", {"text": PROMPT, "seed": "1"}, "'seed' must be int"),
        ("/api/score", {"text": PROMPT, "k": 3}, "unknown fields ['k']"),
    ],
)
def test_bad_requests_are_a_400_with_a_message(url, path, body, message):
    status, answer = post(url, path, body)
    assert status == 400 and message in answer["error"]


def test_unknown_paths_large_bodies_and_escapes_are_refused(url):
    assert post(url, "/api/nope", {})[0] == 404
    assert post(url, "/api/next", b"x" * (MAX_BODY_BYTES + 1))[0] == 413
    for path in ("/../pyproject.toml", "/%2e%2e/engine.py", "/../engine.py", "/nope.html"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path)
        assert refused.value.code == 404
    with urllib.request.urlopen(url + "/") as page, urllib.request.urlopen(url + "/app.js") as script:
        assert b"webtext explore" in page.read() and b"/api/next" in script.read()
    with urllib.request.urlopen(url + "/api/info") as info:
        assert json.load(info)["n_layer"] == 2


def test_concurrent_requests_get_the_answers_serial_ones_get(url):
    requests = [("/api/next", {"text": PROMPT + " think" * i, "k": 3}) for i in range(6)] + [
        ("/api/score", {"text": PROMPT}),
        ("/api/generate", {"text": PROMPT, "max_tokens": 4, "seed": 7}),
    ]
    serial = [post(url, path, body) for path, body in requests]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            # The same answers, up to float rounding: a table may come from the cache of another request.
            for (status, answer), (_, expected) in zip(pool.map(lambda r: post(url, *r), requests), serial):
                assert status == 200 and answer.keys() == expected.keys()
                ours, serials = flat(answer), flat(expected)
                assert [x for x in ours if not is_float(x)] == [x for x in serials if not is_float(x)]
                assert [x for x in ours if is_float(x)] == pytest.approx(
                    [x for x in serials if is_float(x)], rel=1e-4, abs=1e-7
                )


def flat(value) -> list:
    """The numbers and strings of a JSON value, in order."""
    if isinstance(value, dict):
        return [*value.keys(), *(x for v in value.values() for x in flat(v))]
    if isinstance(value, list):
        return [x for v in value for x in flat(v)]
    return [value]


def is_float(value) -> bool:
    return isinstance(value, float)
