"""Loading, saving and validating GPT-2's vocabulary files; decoding errors; robustness on long pieces."""

from __future__ import annotations

import json
import random
import shutil
import string
import time

import numpy as np
import pytest

import bpe
from bpe.files import GPT2_BYTE_ORDER, VocabFileError


def test_gpt2_vocabulary_shape(gpt2):
    assert gpt2.n_vocab == 50257
    assert gpt2.eot_token == 50256
    assert gpt2.special_tokens == {"<|endoftext|>": 50256}
    assert len(gpt2.merges) == 50000
    assert [gpt2.decode_single_token_bytes(i) for i in range(256)] == [bytes([b]) for b in GPT2_BYTE_ORDER]
    assert gpt2.decode_single_token_bytes(50256) == b"<|endoftext|>"
    assert gpt2.encode_single_token(" the") == 262


def test_save_writes_openai_files_byte_for_byte(gpt2, gpt2_dir, tmp_path):
    gpt2.save(tmp_path / "copy")
    for name in ("encoder.json", "vocab.bpe"):
        assert (tmp_path / "copy" / name).read_bytes() == (gpt2_dir / name).read_bytes()
    again = bpe.load(tmp_path / "copy")
    text = "Saved and loaded again: ids don't change. 中文 🙂"
    assert again.encode(text) == gpt2.encode(text)


def test_decode_bytes_errors_and_numpy(gpt2):
    ids = gpt2.encode("naïve café")
    assert gpt2.decode(np.array(ids, dtype=np.uint16)) == "naïve café"
    # A token boundary inside a multi-byte character: bytes are exact, text follows `errors`.
    split = [gpt2.encode_single_token(b"\xe4")]  # the first byte of a three-byte character
    assert gpt2.decode(split) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        gpt2.decode(split, errors="strict")
    for bad in (50257, -1, 10**9):
        with pytest.raises(ValueError, match=f"token id {bad} is not in the vocabulary"):
            gpt2.decode([15496, bad])
    with pytest.raises(ValueError, match="integers"):
        gpt2.decode(["a"])


@pytest.mark.parametrize("alphabet", [string.ascii_letters, "".join(map(chr, range(0x10450, 0x1047F)))])
def test_100k_char_piece_encodes_well_under_a_second(gpt2, alphabet):
    # The textbook loop (recount all pairs after each merge) takes ~36 s on the first alphabet.
    piece = "".join(random.Random(7).choices(alphabet, k=100_000))
    started = time.perf_counter()
    ids = gpt2.encode_ordinary(piece)
    assert time.perf_counter() - started < 1.0
    assert gpt2.decode(ids) == piece


# ---------------------------------------------------------------------- malformed vocabulary files


@pytest.fixture
def vocab_copy(gpt2_dir, tmp_path):
    target = tmp_path / "vocab"
    shutil.copytree(gpt2_dir, target)
    return target


def _error(directory) -> VocabFileError:
    with pytest.raises(VocabFileError) as info:
        bpe.load(directory)
    return info.value


def test_missing_file_is_named(vocab_copy):
    (vocab_copy / "vocab.bpe").unlink()
    error = _error(vocab_copy)
    assert error.path.endswith("vocab.bpe") and "not found" in str(error)


def test_truncated_encoder_json_names_file_and_line(vocab_copy):
    path = vocab_copy / "encoder.json"
    text = json.dumps(json.loads(path.read_text()), indent=0)  # one entry a line, so lines are meaningful
    path.write_text(text[: len(text) // 2])
    error = _error(vocab_copy)
    assert error.path == str(path) and "invalid JSON" in str(error)
    assert error.line == text[: len(text) // 2].count("\n") + 1


def test_merges_truncated_mid_line_names_the_line(vocab_copy):
    path = vocab_copy / "vocab.bpe"
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 3  # a few characters into a line
    path.write_bytes(data[:cut])
    error = _error(vocab_copy)
    assert error.path == str(path)
    assert error.line == data[:cut].count(b"\n") + 1
    assert (
        "two tokens" in str(error)
        or "not a byte or the result" in str(error)
        or "already produced" in str(error)
    )


def test_merges_truncated_at_a_line_boundary_is_detected(vocab_copy):
    path = vocab_copy / "vocab.bpe"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:30001]), encoding="utf-8")
    error = _error(vocab_copy)
    assert error.path.endswith("encoder.json") and "truncated" in str(error)
    assert error.line is not None


def test_merge_of_unknown_token_names_the_line(vocab_copy):
    path = vocab_copy / "vocab.bpe"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[10] = "Ġzzzzqq x"
    path.write_text("\n".join(lines), encoding="utf-8")
    error = _error(vocab_copy)
    assert (error.path, error.line) == (str(path), 11)
    assert "'Ġzzzzqq' is not a byte or the result of an earlier merge" in str(error)


def test_bad_ids_and_encoding_in_encoder_json(vocab_copy):
    path = vocab_copy / "encoder.json"
    encoder = json.loads(path.read_text())
    encoder["Ġthe"] = 0
    path.write_text(json.dumps(encoder))
    assert "id 0 is used by both" in str(_error(vocab_copy))
    encoder["Ġthe"] = "262"
    path.write_text(json.dumps(encoder))
    assert "not an int" in str(_error(vocab_copy))
    path.write_bytes(b'{"a": 1,\n "\xff": 2}')
    error = _error(vocab_copy)
    assert error.line == 2 and "UTF-8" in str(error)
