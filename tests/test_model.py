"""GPT-2 in PyTorch: parity with transformers both ways, GPT-2's sizes, init, sampling, and learning."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
import torch.nn.functional as F

import bpe
from model.fused_loss import linear_cross_entropy
from model.gpt import GPT, GPTConfig
from model.hf import load_hf, save_hf

transformers = pytest.importorskip("transformers")

TINY = {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 128}


def tiny_gpt(seed: int = 0, **overrides: object) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**TINY, **overrides})).eval()


def hf_gpt2(seed: int = 0) -> transformers.GPT2LMHeadModel:
    """A tiny HF GPT-2 with every weight random, so that a misplaced bias or LayerNorm gain shows."""
    config = transformers.GPT2Config(
        n_layer=2,
        n_head=4,
        n_embd=64,
        n_positions=128,
        vocab_size=50257,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(1 + 0.1 * noise if "ln_" in name and name.endswith("weight") else 0.05 * noise)
    return model


def random_ids(vocab_size: int = 50257, shape: tuple[int, int] = (3, 40)) -> torch.Tensor:
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(1))


def max_diff(ours: GPT, theirs: transformers.GPT2LMHeadModel, idx: torch.Tensor) -> float:
    with torch.no_grad():
        return (ours(idx)[0] - theirs(idx).logits).abs().max().item()


@pytest.mark.parametrize("weights_file", ["model.safetensors", "pytorch_model.bin"])
def test_hf_weights_load_with_equal_logits(tmp_path, weights_file):
    theirs = hf_gpt2()
    if weights_file == "model.safetensors":
        theirs.save_pretrained(tmp_path)
    else:  # as OpenAI's own upload: a bare GPT2Model (no `transformer.` prefix, no lm_head) in a .bin
        theirs.config.save_pretrained(tmp_path)
        torch.save(theirs.transformer.state_dict(), tmp_path / "pytorch_model.bin")
    assert (tmp_path / weights_file).is_file()
    ours = load_hf(tmp_path).eval()
    assert ours.config.padded_vocab_size == 50304
    assert ours.lm_head.weight is ours.wte.weight
    assert all(p.requires_grad and p.is_contiguous() for p in ours.parameters())
    assert max_diff(ours, theirs, random_ids()) <= 1e-5


def test_saved_weights_load_in_transformers_with_equal_logits(tmp_path):
    ours = tiny_gpt(seed=3)
    with torch.no_grad():  # make biases and gains non-trivial so a mix-up would show
        for param in ours.parameters():
            param.add_(0.05 * torch.randn_like(param))
    save_hf(ours, tmp_path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    assert max_diff(ours, theirs, random_ids()) <= 1e-5
    assert max_diff(load_hf(tmp_path).eval(), theirs, random_ids()) <= 1e-5


def test_exported_model_and_its_tokenizer_load_in_transformers_from_one_directory(gpt2, tmp_path):
    text = "Exported: naïve café 中文 🙂\n\n  it's <|endoftext|> done"
    ours = tiny_gpt(seed=4)
    save_hf(ours, tmp_path / "gpt2")
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "gpt2").eval()
    ids = gpt2.encode(text, allowed_special="all")
    for tokenizer_class in (transformers.AutoTokenizer, transformers.GPT2TokenizerFast):
        tokenizer = tokenizer_class.from_pretrained(tmp_path / "gpt2")
        assert tokenizer(text)["input_ids"] == ids
        assert (tokenizer.eos_token_id, tokenizer.model_max_length) == (gpt2.eot_token, TINY["block_size"])
        assert tokenizer.decode(ids) == text
    assert max_diff(ours, theirs, torch.tensor([ids])) <= 1e-5
    assert bpe.load(tmp_path / "gpt2").fingerprint == gpt2.fingerprint  # what `--hf-dir` reads back

    # A model of another vocabulary is exported with that vocabulary.
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the lower lowest newer newest wider widest " * 30)
    small = bpe.train([corpus], vocab_size=270, name="small")
    model = tiny_gpt(vocab_size=small.n_vocab)
    save_hf(model, tmp_path / "small", small)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "small")
    assert tokenizer("the newest wider")["input_ids"] == small.encode("the newest wider")
    assert (
        transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "small").config.eos_token_id
        == small.eot_token
    )
    with pytest.raises(ValueError, match="has 50,257 tokens, the model only 297"):
        save_hf(tiny_gpt(vocab_size=297), tmp_path / "mismatch")


def test_load_hf_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_hf(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf(tmp_path)
    save_hf(tiny_gpt(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "model.safetensors").rename(tmp_path / "elsewhere.safetensors")
    with pytest.raises(FileNotFoundError, match="neither model.safetensors nor pytorch_model.bin"):
        load_hf(tmp_path)
    (tmp_path / "elsewhere.safetensors").rename(tmp_path / "model.safetensors")

    (tmp_path / "config.json").write_text(json.dumps({**config, "n_embd": 128}))
    with pytest.raises(ValueError, match=r"tensor transformer\.wte\.weight has shape \(50257, 64\)"):
        load_hf(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "layer_norm_epsilon": 1e-6}))
    with pytest.raises(ValueError, match="layer_norm_epsilon"):
        load_hf(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "activation_function": "relu"}))
    with pytest.raises(ValueError, match="activation_function"):
        load_hf(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_layer": 3}))
    with pytest.raises(ValueError, match=r"tensor transformer\.h\.2\.ln_1\.weight is missing"):
        load_hf(tmp_path)


@pytest.mark.parametrize("weights_file", ["model.safetensors", "pytorch_model.bin"])
def test_load_hf_names_a_truncated_weights_file(tmp_path, weights_file):
    save_hf(tiny_gpt(), tmp_path)
    if weights_file == "pytorch_model.bin":
        from safetensors.torch import load_file

        torch.save(load_file(tmp_path / "model.safetensors"), tmp_path / weights_file)
        (tmp_path / "model.safetensors").unlink()
    path = tmp_path / weights_file
    for size in (1000, 10):  # cut in the tensors, and in the header
        path.write_bytes(path.read_bytes()[:size])
        with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: not a readable"):
            load_hf(tmp_path)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"n_layer": 2,', "not JSON"),
        ("[" * 10_000, r"not JSON \(nested too deeply\)"),
        ("[1, 2]", "not a JSON object"),
        (b"\xff\xfe{}", "not JSON"),
    ],
)
def test_load_hf_names_a_malformed_config(tmp_path, text, error):
    save_hf(tiny_gpt(), tmp_path)
    path = tmp_path / "config.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {error}"):
        load_hf(tmp_path)


@pytest.mark.parametrize(
    ("preset", "params"),
    [("124M", 124_439_808), ("355M", 354_823_168), ("774M", 774_030_080), ("1558M", 1_557_611_200)],
)
def test_presets_have_gpt2_parameter_counts(preset, params):
    config = GPTConfig.preset(preset)
    with torch.device("meta"):
        model = GPT(config)
    assert config.padded_vocab_size == 50304
    assert model.num_params(non_embedding=False) == params
    assert model.num_params() == params - 1024 * config.n_embd


def test_init_loss_is_uniform_and_logits_are_cropped():
    model = tiny_gpt()
    idx = random_ids(shape=(4, 65))
    idx, next_ids = idx[:, :-1], idx[:, 1:]
    logits, no_loss = model(idx)
    assert logits.shape == (4, 64, 50257)
    assert no_loss is None
    no_logits, loss = model(idx, targets=next_ids)
    assert no_logits is None
    assert loss.item() == pytest.approx(math.log(50257), abs=0.1)
    assert model.lm_head.weight is model.wte.weight
    assert torch.count_nonzero(model.wte.weight[50257:]) == 0
    targets = torch.full_like(idx, -1)
    targets[:, 0] = next_ids[:, 0]
    _, first_only = model(idx, targets=targets)
    expected = torch.nn.functional.cross_entropy(logits[:, 0], next_ids[:, 0])
    assert first_only.item() == pytest.approx(expected.item())


def test_fused_loss_equals_cross_entropy_of_the_logits_with_gradients():
    """The CPU path's fused head + loss against F.cross_entropy on the cropped logits, values and gradients,
    with ignored (-1) targets, a padded vocabulary, and an upstream gradient other than 1."""
    torch.manual_seed(0)
    x = torch.randn(40, 16, requires_grad=True)
    weight = torch.randn(128, 16)
    weight[100:] = 0  # the padded rows
    weight.requires_grad_()
    targets = torch.randint(0, 100, (40,))
    targets[::7] = -1
    for _ in range(2):  # the second step reuses the first one's buffer
        x.grad = weight.grad = None
        fused = linear_cross_entropy(x, weight, targets, 100)
        (3 * fused).backward()
        with torch.no_grad():  # an evaluation in between, of another shape, takes and returns a buffer
            linear_cross_entropy(x[:9], weight, targets[:9], 100)
    fused_grads = x.grad, weight.grad
    x.grad = weight.grad = None
    reference = F.cross_entropy(x @ weight[:100].t(), targets, ignore_index=-1)
    (3 * reference).backward()
    assert fused.item() == pytest.approx(reference.item(), rel=1e-6)
    assert torch.allclose(fused_grads[0], x.grad, atol=1e-6)
    assert torch.allclose(fused_grads[1], weight.grad, atol=1e-6)
    assert torch.count_nonzero(fused_grads[1][100:]) == 0
    assert weight.grad[:100].abs().max() > 1e-3  # the comparison above compares something


def test_fused_loss_setting_gives_the_plain_loss_and_gradients():
    """GPT.fused_loss (set by model.parallel.parallelize for eager fp32 on CPUs) changes the kernel only:
    forward's loss and every gradient match the plain logits + F.cross_entropy path."""
    model = tiny_gpt(vocab_size=300).train()
    assert not model.fused_loss  # off unless asked for: the plain ops suit every device
    idx = random_ids(300, (2, 17))
    targets = idx[:, 1:].clone()
    targets[0, :3] = -1
    results = []
    for fused in (False, True):
        model.fused_loss = fused
        model.zero_grad(set_to_none=True)
        logits, loss = model(idx[:, :-1], targets=targets)
        assert logits is None
        loss.backward()
        results.append((loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}))
    (plain, plain_grads), (fused, fused_grads) = results
    assert fused.item() == pytest.approx(plain.item(), rel=1e-6)
    assert all(torch.allclose(fused_grads[name], plain_grads[name], atol=1e-6) for name in plain_grads)
    assert model(idx)[0].shape == (2, 17, 300)  # without targets: logits, whatever the setting


def test_residual_projections_are_scaled():
    model = GPT(GPTConfig(n_layer=8, n_head=4, n_embd=256, vocab_size=256))
    block = model.h[0]
    assert block.attn.c_proj.weight.std().item() == pytest.approx(0.02 / 4, rel=0.05)
    assert block.mlp.c_proj.weight.std().item() == pytest.approx(0.02 / 4, rel=0.05)
    assert block.mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(block.attn.c_attn.bias) == 0


def test_generate_is_reproducible_and_greedy_at_the_limits():
    model = tiny_gpt(vocab_size=300, block_size=16)
    prompt = random_ids(300, (2, 5))

    def sample(**kwargs: object) -> torch.Tensor:
        return model.generate(prompt, 20, generator=torch.Generator().manual_seed(7), **kwargs)

    assert torch.equal(sample(), sample())
    assert not torch.equal(sample(), model.generate(prompt, 20, generator=torch.Generator().manual_seed(8)))
    greedy = sample(top_k=1)
    assert torch.equal(sample(top_p=1e-6), greedy)
    assert torch.equal(sample(temperature=5.0, top_k=1), greedy)
    # 25 tokens outgrow block_size 16: every step must still be the argmax over the last 16.
    assert greedy.shape == (2, 25)
    for t in range(5, 25):
        context = greedy[:, max(0, t - 16) : t]
        assert torch.equal(greedy[:, t], model(context)[0][:, -1].argmax(-1))


def test_optimizer_decays_only_matrices():
    model = tiny_gpt(vocab_size=300)
    decay, no_decay = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu").param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_flops_per_token_follow_palm():
    with torch.device("meta"):
        model = GPT(GPTConfig.preset("124M"))
    n = 124_439_808 - 1024 * 768
    assert model.estimate_flops_per_token() == 6 * n + 12 * 12 * 12 * 64 * 1024


def test_tiny_model_overfits_a_repeated_sequence():
    model = tiny_gpt(vocab_size=256, block_size=32).train()
    sequence = random_ids(256, (1, 33)).repeat(8, 1)
    optimizer = model.configure_optimizers(0.0, 3e-3, (0.9, 0.95), "cpu")
    for _ in range(100):
        _, loss = model(sequence[:, :-1], targets=sequence[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
