"""The packaged GPT-2 encoding, vocabularies by name or directory, HF's tokenizer layouts, and records."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import bpe
from bpe import registry
from bpe.files import VocabFileError, has_vocab_files

REPO = Path(__file__).resolve().parents[1]
# The one place the tests look beside the repository: OpenAI's files as the project keeps them, where they
# are (CI hands their path over when it runs the tests in a copy with nothing beside it).
REFERENCE_GPT2 = Path(os.environ.get("WEBTEXT_REFERENCE_GPT2", REPO.parent / "shared" / "gpt2"))
TEXT = "Hello world  \n\n\tcode(x) = 1_000; naïve café 中文 🙂 it's 2019's <|endoftext|> end"


def test_packaged_files_are_openais_as_tiktoken_pins_them(gpt2_dir):
    from tiktoken_ext import openai_public

    source = inspect.getsource(openai_public.gpt2)
    pins = dict(re.findall(r'(vocab_bpe|encoder_json)_hash="([0-9a-f]{64})"', source))
    digests = {
        name: hashlib.sha256((gpt2_dir / name).read_bytes()).hexdigest() for name in registry.PACKAGED["gpt2"]
    }
    assert digests == registry.PACKAGED["gpt2"]
    assert digests == {"encoder.json": pins["encoder_json"], "vocab.bpe": pins["vocab_bpe"]}
    assert "Modified MIT License" in (gpt2_dir / "LICENSE").read_text()
    if REFERENCE_GPT2.is_dir():
        for name in registry.PACKAGED["gpt2"]:
            assert (gpt2_dir / name).read_bytes() == (REFERENCE_GPT2 / name).read_bytes()


def test_get_encoding_is_cached_and_checks_the_files(tmp_path, monkeypatch):
    gpt2 = bpe.get_encoding("gpt2")
    assert gpt2 is bpe.get_encoding("gpt2")
    assert (gpt2.name, gpt2.n_vocab, gpt2.eot_token) == ("gpt2", 50257, 50256)
    assert gpt2.encode("Hello world") == [15496, 995]
    assert bpe.list_encoding_names() == ["gpt2"]
    with pytest.raises(ValueError, match="unknown encoding 'cl100k_base'; packaged: gpt2"):
        bpe.get_encoding("cl100k_base")

    damaged = tmp_path / "data"
    shutil.copytree(registry.DATA_DIR, damaged)
    merges = damaged / "gpt2" / "vocab.bpe"
    merges.write_bytes(merges.read_bytes().replace(b"\xc4\xa0t", b"\xc4\xa0T", 1))
    monkeypatch.setattr(registry, "DATA_DIR", damaged)
    with pytest.raises(VocabFileError, match=r"vocab.bpe: sha256 is [0-9a-f]{64}, not 1ce16.*reinstall"):
        registry.get_encoding.__wrapped__("gpt2")  # what a first call does, past the cache


def test_resolve_takes_a_name_or_a_directory(gpt2, gpt2_dir, tmp_path, monkeypatch):
    assert bpe.resolve("gpt2") is gpt2
    from_dir = bpe.resolve(gpt2_dir)
    assert from_dir is not gpt2 and from_dir.fingerprint == gpt2.fingerprint
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gpt2").mkdir()  # a bare name is the packaged encoding, ./gpt2 the directory
    assert bpe.resolve("gpt2") is gpt2
    with pytest.raises(VocabFileError, match="no vocabulary here"):
        bpe.resolve("./gpt2")
    with pytest.raises(
        VocabFileError, match=r"missing: neither a packaged encoding \(gpt2\) nor a vocabulary"
    ):
        bpe.resolve("missing")


def test_bpe_train_is_the_trainer(tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("low lower lowest newer newest " * 20)
    encoding = bpe.train([source], vocab_size=270, name="tiny")
    assert isinstance(encoding, bpe.Encoding) and encoding.n_vocab == 270


def test_hf_layouts_load_to_the_same_vocabulary(gpt2, gpt2_dir, hf_gpt2, tmp_path):
    gpt2.save_hf(tmp_path / "hf", model_max_length=1024)
    assert sorted(path.name for path in (tmp_path / "hf").iterdir()) == [
        "merges.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
    # HF's gpt2 ships OpenAI's two files byte for byte under its own names.
    assert (tmp_path / "hf" / "vocab.json").read_bytes() == (gpt2_dir / "encoder.json").read_bytes()
    assert (tmp_path / "hf" / "merges.txt").read_bytes() == (gpt2_dir / "vocab.bpe").read_bytes()
    layouts = {
        "vocab-merges": ["vocab.json", "merges.txt"],
        "ours": ["tokenizer.json"],
    }
    for name, files in layouts.items():
        (tmp_path / name).mkdir()
        for file in files:
            shutil.copy(tmp_path / "hf" / file, tmp_path / name)
    hf_tokenizers_own = tmp_path / "theirs"
    hf_tokenizers_own.mkdir()
    hf_gpt2.add_special_tokens(["<|endoftext|>"])
    hf_gpt2.save(str(hf_tokenizers_own / "tokenizer.json"))  # written by HF tokenizers itself
    for directory in (tmp_path / "hf", tmp_path / "vocab-merges", tmp_path / "ours", hf_tokenizers_own):
        assert has_vocab_files(directory)
        loaded = bpe.load(directory)
        assert loaded.fingerprint == gpt2.fingerprint, directory.name
        assert loaded.encode(TEXT, allowed_special="all") == gpt2.encode(TEXT, allowed_special="all")
    assert not has_vocab_files(tmp_path)


def test_tokenizer_json_brings_its_pattern(tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("numbers 123456 and words, 78 9012 " * 30)
    digits = r"\p{N}{1,3}| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+"
    trained = bpe.train([source], vocab_size=275, pattern=digits, name="digits")
    trained.save(tmp_path / "vocab")
    loaded = bpe.load(tmp_path / "vocab")  # encoder.json + vocab.bpe, the pattern from tokenizer.json
    assert loaded.pat_str == digits and loaded.fingerprint == trained.fingerprint
    assert loaded.encode("1234567 x") == trained.encode("1234567 x")
    assert bpe.load(tmp_path / "vocab", pat_str=bpe.GPT2_PATTERN).pat_str == bpe.GPT2_PATTERN
    (tmp_path / "vocab" / "encoder.json").unlink()
    (tmp_path / "vocab" / "vocab.bpe").unlink()
    assert bpe.load(tmp_path / "vocab").fingerprint == trained.fingerprint


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda doc: doc.update(normalizer={"type": "NFC"}), "has a normalizer"),
        (lambda doc: doc["pre_tokenizer"].update(add_prefix_space=True), "adds a prefix space"),
        (lambda doc: doc["model"].update(type="WordPiece"), "model type is 'WordPiece'"),
        (lambda doc: doc["model"].update(byte_fallback=True), "byte_fallback is True"),
        (lambda doc: doc.update(pre_tokenizer={"type": "Whitespace"}), "does not end in ByteLevel"),
        (
            lambda doc: doc["model"]["merges"].__setitem__(3, ["Ġzzq", "x"]),
            r"model.merges\[3\]: 'Ġzzq' is not a byte",
        ),
        (lambda doc: doc["model"]["merges"].__delitem__(slice(100, None)), "is neither a byte, a merge"),
    ],
)
def test_unsupported_or_broken_tokenizer_json_is_named(gpt2, tmp_path, change, message):
    gpt2.save_hf(tmp_path)
    (tmp_path / "vocab.json").unlink()
    (tmp_path / "merges.txt").unlink()
    path = tmp_path / "tokenizer.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    with pytest.raises(VocabFileError, match=message) as info:
        bpe.load(tmp_path)
    assert info.value.path == str(path)


def test_records_tell_vocabularies_apart(gpt2, tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text("low lower lowest newer newest " * 20)
    small = bpe.train([source], vocab_size=270, name="small")
    small.save(tmp_path / "small")
    gpt2_record = registry.describe(gpt2, "gpt2")
    assert gpt2_record == {
        "name": "gpt2",
        "source": "gpt2",
        "n_vocab": 50257,
        "eot_token": 50256,
        "sha256": gpt2.fingerprint,
    }
    small_record = registry.describe(bpe.resolve(tmp_path / "small"), registry.source_of(tmp_path / "small"))
    assert small_record["source"] == str((tmp_path / "small").resolve())
    registry.check_same(gpt2_record, json.loads(json.dumps(gpt2_record)), "shards")
    with pytest.raises(
        bpe.VocabMismatchError, match=r"shards: made with the vocabulary 'small' \(270 tokens"
    ):
        registry.check_same(gpt2_record, small_record, "shards")
    assert registry.from_record(small_record, "shards").fingerprint == small.fingerprint
    shutil.rmtree(tmp_path / "small")
    with pytest.raises(bpe.VocabMismatchError, match="is not at .* any more .* --vocab DIR"):
        registry.from_record(small_record, "shards")
