"""GPT-2 weights in HF's format (`GPT2LMHeadModel`) in and out of our GPT, from a local directory.

OpenAI's checkpoints are distributed this way today, so this is how pretrained GPT-2 gets in and how our
runs get evaluated with other tools; the tokenizer files are written beside the weights, as
`save_pretrained` does for a model and its tokenizer. HF's GPT-2 uses `Conv1D` layers whose weights are stored [in, out]:
those are transposed to nn.Linear's [out, in]; everything else maps name for name. The directory is read
and written without importing transformers, which stays a test-only dependency.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bpe.encoding import ENDOFTEXT, Encoding
from bpe.registry import DEFAULT_ENCODING, get_encoding
from model.gpt import GPT, GPTConfig

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
BIN_FILE = "pytorch_model.bin"
HF_PREFIX = "transformer."  # GPT2LMHeadModel's; OpenAI's own upload (a bare GPT2Model) has none
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
IGNORED_BUFFERS = ("attn.bias", "attn.masked_bias")  # old transformers saved the causal mask as weights
# Config entries whose other values would change the maths; missing entries take HF's defaults.
REQUIRED_CONFIG = {
    "layer_norm_epsilon": (1e-5,),
    "activation_function": ("gelu_new", "gelu_pytorch_tanh"),
    "n_inner": (None,),
    "scale_attn_weights": (True,),
    "scale_attn_by_inverse_layer_idx": (False,),
    "tie_word_embeddings": (True,),
}


def load_hf(directory: str | Path) -> GPT:
    """Our GPT holding the weights of the HF GPT-2 checkpoint in directory."""
    directory = _existing_directory(directory)
    config = _read_config(directory)
    with torch.device("meta"):
        model = GPT(config)  # only for its parameter names and shapes
    hf_state = _read_weights(directory)
    state = {}
    for name, param in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to wte.weight
        hf_name = next((n for n in (HF_PREFIX + name, name) if n in hf_state), None)
        if hf_name is None:
            raise ValueError(f"{directory}: tensor {HF_PREFIX + name} is missing")
        tensor = hf_state.pop(hf_name)
        if name.endswith(CONV1D_WEIGHTS):
            tensor = tensor.t()
        if name == "wte.weight":
            tensor = _check_shape(hf_name, tensor, (config.vocab_size, config.n_embd))
            tensor = torch.cat([tensor, tensor.new_zeros(param.shape[0] - config.vocab_size, param.shape[1])])
        state[name] = _check_shape(hf_name, tensor, tuple(param.shape)).to(torch.float32).contiguous()
    _check_leftovers(directory, hf_state, state["wte.weight"][: config.vocab_size])
    return GPT.from_state_dict(config, state)


def save_hf(model: GPT, directory: str | Path, encoding: Encoding | None = None) -> Path:
    """Writes config.json, model.safetensors (pytorch_model.bin without safetensors) and the tokenizer files
    of `encoding` (default: GPT-2's) into directory: `GPT2LMHeadModel.from_pretrained(directory)` and
    `AutoTokenizer.from_pretrained(directory)` load them."""
    config = model.config
    if not config.bias:
        raise ValueError("HF's GPT-2 always has biases; a bias=False model cannot be saved in its format")
    encoding = encoding or get_encoding(DEFAULT_ENCODING)
    if encoding.n_vocab > config.vocab_size:
        raise ValueError(
            f"the vocabulary {encoding.name!r} has {encoding.n_vocab:,} tokens, the model only {config.vocab_size:,}"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # HF ties it to wte on load
        tensor = tensor.detach().cpu()
        if name.endswith(CONV1D_WEIGHTS):
            tensor = tensor.t()
        if name == "wte.weight":
            tensor = tensor[: config.vocab_size]
        state[HF_PREFIX + name] = tensor.contiguous()
    (directory / CONFIG_FILE).write_text(
        json.dumps(_hf_config(config, encoding.special_tokens.get(ENDOFTEXT)), indent=2) + "\n"
    )
    encoding.save_hf(directory, model_max_length=config.block_size)
    try:
        from safetensors.torch import save_file
    except ImportError:
        path = directory / BIN_FILE
        torch.save(state, path)
    else:
        path = directory / SAFETENSORS_FILE
        save_file(state, path, metadata={"format": "pt"})  # transformers refuses files without format
    return directory


def _existing_directory(directory: str | Path) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory")
    return directory


def _read_config(directory: Path) -> GPTConfig:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (HF's GPT-2 config)")
    try:
        hf = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply for json
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise ValueError(f"{path}: not JSON ({reason})") from None
    if not isinstance(hf, dict):
        raise ValueError(f"{path}: not a JSON object but {type(hf).__name__}")
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"{path}: model_type is {hf['model_type']!r}, not 'gpt2'")
    for key, allowed in REQUIRED_CONFIG.items():
        default = allowed[0]
        if hf.get(key, default) not in allowed:
            raise ValueError(
                f"{path}: {key} is {hf[key]!r}; our GPT-2 needs {' or '.join(map(repr, allowed))}"
            )
    missing = [k for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size") if k not in hf]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    return GPTConfig(
        n_layer=hf["n_layer"],
        n_head=hf["n_head"],
        n_embd=hf["n_embd"],
        vocab_size=hf["vocab_size"],
        block_size=hf["n_positions"],
    )


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    path = directory / SAFETENSORS_FILE
    try:
        if path.is_file():
            from safetensors.torch import load_file

            return load_file(path)
        path = directory / BIN_FILE
        if path.is_file():
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as error:  # SafetensorError; torch's RuntimeError, UnpicklingError, EOFError...
        raise ValueError(f"{path}: not a readable weights file (truncated or corrupt?): {error}") from None
    raise FileNotFoundError(f"{directory}: neither {SAFETENSORS_FILE} nor {BIN_FILE} is there")


def _check_shape(name: str, tensor: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    if tuple(tensor.shape) != shape:
        raise ValueError(f"tensor {name} has shape {tuple(tensor.shape)}, config.json implies {shape}")
    return tensor


def _check_leftovers(directory: Path, hf_state: dict[str, torch.Tensor], wte: torch.Tensor) -> None:
    """Fails on tensors we would silently drop: an untied lm_head or another architecture's weights."""
    lm_head = hf_state.pop("lm_head.weight", None)
    if lm_head is not None and not torch.equal(lm_head.to(wte.dtype), wte):
        raise ValueError(f"{directory}: lm_head.weight differs from wte.weight; only tied GPT-2 is supported")
    unexpected = [name for name in hf_state if not name.endswith(IGNORED_BUFFERS)]
    if unexpected:
        raise ValueError(f"{directory}: unexpected tensors {', '.join(sorted(unexpected)[:5])}")


def _hf_config(config: GPTConfig, eot_token: int | None) -> dict[str, object]:
    """The config.json `GPT2LMHeadModel.from_pretrained` reads; <|endoftext|> begins and ends texts."""
    hf: dict[str, object] = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_embd": config.n_embd,
        "n_positions": config.block_size,
        "vocab_size": config.vocab_size,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    if eot_token is not None:
        hf["bos_token_id"] = hf["eos_token_id"] = eot_token
    return hf
