"""The KV cache: cached logits equal the uncached forward's, the window slides past block_size, sampling
draws as the uncached loop did, and greedy decoding equals transformers'."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_gpt2 import save_tiny_hf_gpt2

from model.gpt import GPT, GPTConfig, _nucleus
from model.hf import load_hf
from model.sample import sample_ids

ATOL = 1e-5


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, vocab_size=97, block_size=16)).eval()


def ids(count: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 97, (batch, count), generator=torch.Generator().manual_seed(seed))


def uncached(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(idx)[0]


def old_generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    """GPT.generate before the cache: the whole context, cropped to block_size, run again every token."""
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits, _ = model(idx[:, -model.config.block_size :])
        logits = logits[:, -1, :] / temperature
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, [-1]]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if top_p is not None:
            logits = _nucleus(logits, top_p)
        probs = F.softmax(logits, dim=-1)
        idx = torch.cat([idx, torch.multinomial(probs, 1, generator=generator)], dim=1)
    return idx


@pytest.mark.parametrize("chunks", [[16], [5, 1, 1, 1, 1, 1, 6], [3, 4, 9], [1] * 16])
def test_cached_logits_equal_the_uncached_forward(model, chunks):
    idx = ids(16, batch=2)
    cache = model.new_cache(batch_size=2)
    pieces, start = [], 0
    for size in chunks:
        pieces.append(model.forward_cached(idx[:, start : start + size], cache))
        start += size
        assert len(cache) == start
    cached = torch.cat(pieces, dim=1)
    assert cached.shape == (2, 16, 97) and cached.dtype == torch.float32
    assert torch.allclose(cached, uncached(model, idx), rtol=0, atol=ATOL)


def test_crop_then_forward_equals_a_fresh_cache(model):
    idx, other = ids(12), ids(6, seed=2)
    cache = model.new_cache()
    model.forward_cached(idx, cache)
    cache.crop(6)
    assert len(cache) == 6
    logits = model.forward_cached(other, cache)
    expected = uncached(model, torch.cat([idx[:, :6], other], dim=1))[:, 6:]
    assert torch.allclose(logits, expected, rtol=0, atol=ATOL)
    with pytest.raises(ValueError, match="crop"):
        cache.crop(13)


def test_overfilling_the_cache_is_a_value_error(model):
    cache = model.new_cache()
    model.forward_cached(ids(10), cache)
    with pytest.raises(ValueError, match="exceed block_size 16"):
        model.forward_cached(ids(7), cache)
    assert len(cache) == 10  # the refused tokens left it as it was
    model.forward_cached(ids(6), cache)
    assert len(cache) == 16


def test_generate_slides_past_block_size_and_matches_the_uncached_window(model, monkeypatch):
    """Every step's logits equal the uncached forward over the last block_size tokens: the cache serves
    the steps up to block_size, then each step runs the moved window whole."""
    seen, rows = [], []
    logits_of, hidden_of = GPT.logits, GPT._hidden_cached

    def spy_logits(self, hidden):
        out = logits_of(self, hidden)
        seen.append(out)
        return out

    def spy_hidden(self, idx, cache):
        rows.append(idx.shape[1])
        return hidden_of(self, idx, cache)

    monkeypatch.setattr(GPT, "logits", spy_logits)
    monkeypatch.setattr(GPT, "_hidden_cached", spy_hidden)
    prompt = ids(10)
    out = model.generate(prompt, 30, generator=torch.Generator().manual_seed(3))
    monkeypatch.undo()
    assert out.shape == (1, 40) and torch.equal(out[:, :10], prompt)
    # The prompt, then one token a step up to 16, then the whole window of 16 each step.
    assert rows == [10, 1, 1, 1, 1, 1, 1] + [16] * 23
    assert len(seen) == 30
    for end, logits in zip(range(10, 40), seen, strict=True):  # the step that samples token `end`
        assert torch.allclose(
            logits, uncached(model, out[:, max(0, end - 16) : end])[:, -1], rtol=0, atol=ATOL
        )


@pytest.mark.parametrize("knobs", [{}, {"top_k": 5}, {"top_p": 0.8, "temperature": 0.7}])
def test_generate_draws_as_the_uncached_loop(model, knobs):
    prompt = ids(4, batch=3)
    # 4 + 30 tokens: within block_size and past it, each draw as the loop that cropped every step.
    new = model.generate(prompt, 30, generator=torch.Generator().manual_seed(5), **knobs)
    old = old_generate(model, prompt, 30, generator=torch.Generator().manual_seed(5), **knobs)
    assert torch.equal(new, old)


def test_iter_sample_ids_draws_as_before(model):
    context = ids(5)[0].tolist()

    def before(max_tokens, generator, stop=None):  # iter_sample_ids before the cache: one generate per token
        idx, out = torch.tensor([context]), []
        for _ in range(max_tokens):
            idx = old_generate(model, idx, 1, top_k=20, generator=generator)
            if idx[0, -1].item() == stop:
                break
            out.append(idx[0, -1].item())
        return out

    expected = before(11, torch.Generator().manual_seed(9))
    assert sample_ids(model, context, 11, top_k=20, generator=torch.Generator().manual_seed(9)) == expected
    stop = expected[4]
    assert sample_ids(
        model, context, 11, top_k=20, generator=torch.Generator().manual_seed(9), stop=stop
    ) == before(11, torch.Generator().manual_seed(9), stop=stop)


def test_greedy_generate_equals_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    hf_dir = save_tiny_hf_gpt2(tmp_path, n_positions=64)
    ours = load_hf(hf_dir).eval()
    theirs = transformers.GPT2LMHeadModel.from_pretrained(hf_dir).eval()
    prompt = ids(7, seed=4) * 500  # spread over the 50257-token vocabulary
    with torch.no_grad():
        expected = theirs.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            use_cache=True,
            max_new_tokens=40,
            pad_token_id=0,
        )
    assert torch.equal(ours.generate(prompt, 40, top_k=1), expected)


def test_a_bad_temperature_is_refused_before_the_first_token(model):
    with pytest.raises(ValueError, match="temperature must be positive"):
        model.iter_generate(ids(3), temperature=0)
    with pytest.raises(ValueError, match="temperature must be positive"):
        model.generate(ids(3), 0, temperature=-1.0)
