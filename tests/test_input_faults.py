"""Damaged inputs and unwritable outputs through the `webtext bpe` commands, run for real: each fault is a
one-line error naming the path (or a counted skip), never a traceback, never a silent short read."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from click.testing import CliRunner

from webtext.cli import main

TEXTS = [f"document {i} about the bridge and the river" for i in range(400)]


def _jsonl(texts: list[str]) -> bytes:
    return "".join(json.dumps({"text": text}) + "\n" for text in texts).encode()


def _cut_gz(path: Path) -> None:
    path.write_bytes(gzip.compress(_jsonl(TEXTS))[:-20])


def _cut_zst(path: Path) -> None:
    """Two frames, cut inside the second: zstandard's stream reader returned the first frame's documents
    and stopped, as if the file had ended there."""
    compress = zstandard.ZstdCompressor(write_checksum=True).compress
    first, second = compress(_jsonl(TEXTS[:200])), compress(_jsonl(TEXTS[200:]))
    path.write_bytes(first + second[: len(second) // 2])


def _deep_json(path: Path) -> None:
    path.write_text('{"text": "fine"}\n' + "[" * 100_000 + "\n")


FAULTS = {
    "cut.jsonl.gz": (_cut_gz, "cut.jsonl.gz: cannot read"),
    "cut.jsonl.zst": (_cut_zst, r"cut.jsonl.zst: cannot read \(EOFError: .*truncated"),
    "deep.jsonl": (_deep_json, r"deep.jsonl:2: invalid JSON \(nested too deeply"),
}
COMMANDS = {
    "count": lambda path, out: ["bpe", "count", str(path)],
    "train": lambda path, out: ["bpe", "train", str(path), "--out", str(out), "--workers", "1"],
    "count-pretokens": lambda path, out: ["bpe", "count-pretokens", str(path), "--out", str(out)],
}


def _one_line_error(result, pattern: str) -> None:
    """The command failed with click's one-line error matching `pattern`, not with an exception."""
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and re.search(pattern, last), result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_damaged_input_is_a_one_line_error_naming_it(tmp_path, command, name):
    make, pattern = FAULTS[name]
    make(tmp_path / name)
    result = CliRunner().invoke(main, COMMANDS[command](tmp_path / name, tmp_path / "out"))
    _one_line_error(result, pattern)


def test_null_texts_are_counted_by_count_train_and_count_pretokens(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": ["a parquet row", None, "another row"]}), data / "rows.parquet")
    (data / "lines.jsonl").write_text('{"text": "a line"}\n{"text": null}\n')
    runner = CliRunner()

    counted = runner.invoke(main, ["bpe", "count", "--json", str(data)])
    assert counted.exit_code == 0, counted.output
    summary = json.loads(counted.stdout)
    assert (summary["documents"], summary["null_texts_skipped"]) == (3, 2)

    trained = runner.invoke(
        main,
        ["bpe", "train", str(data), "--out", str(tmp_path / "v"), "--vocab-size", "260", "--workers", "1"],
    )
    assert trained.exit_code == 0, trained.output
    assert "2 documents with a null text were skipped" in trained.stderr
    assert json.loads((tmp_path / "v" / "training.json").read_text())["null_texts_skipped"] == 2

    pretokens = runner.invoke(main, ["bpe", "count-pretokens", str(data / "*"), "--out", str(tmp_path / "c")])
    assert pretokens.exit_code == 0, pretokens.output
    assert "3 documents (2 files, 0 with invalid UTF-8 replaced, 2 null texts skipped)" in pretokens.output


# ---------------------------------------------------------------------- unwritable outputs


@pytest.fixture
def inputs(tmp_path) -> tuple[Path, Path]:
    """A good JSONL file and a broken one: an output refused before the work names the output, not the
    broken input that the work would have stopped at."""
    good, broken = tmp_path / "good.jsonl", tmp_path / "broken.jsonl"
    good.write_bytes(_jsonl(TEXTS))
    broken.write_text("{not json\n")
    return good, broken


OUTPUTS = {
    "train --out": lambda good, out: ["bpe", "train", str(good), "--out", str(out), "--vocab-size", "300"],
    "train --save-counts": lambda good, out: [
        *("bpe", "train", str(good), "--out", str(good.parent / "vocab"), "--vocab-size", "300"),
        *("--save-counts", str(out)),
    ],
    "count-pretokens --out": lambda good, out: ["bpe", "count-pretokens", str(good), "--out", str(out)],
    "encode -o": lambda good, out: ["bpe", "encode", str(good), "-o", str(out)],
}


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_an_output_under_a_file_is_refused_before_the_work_naming_it(tmp_path, inputs, output):
    good, broken = inputs
    (tmp_path / "a-file").write_text("not a directory")
    out = tmp_path / "a-file" / "out"  # ENOTDIR, as root too
    result = CliRunner().invoke(main, OUTPUTS[output](good, out))
    _one_line_error(result, rf"{tmp_path / 'a-file'}\S*: .*Not a directory")
    if output != "encode -o":  # encode reads its input whole before anything else; no work to save
        args = OUTPUTS[output](good, out)
        args[args.index(str(good))] = str(broken)
        _one_line_error(CliRunner().invoke(main, args), rf"{tmp_path / 'a-file'}\S*: .*Not a directory")


@pytest.mark.parametrize("output", ["train --out", "count-pretokens --out"])
def test_an_output_directory_that_is_a_file_is_refused_naming_it(tmp_path, inputs, output):
    good, _ = inputs
    (tmp_path / "a-file").write_text("not a directory")
    result = CliRunner().invoke(main, OUTPUTS[output](good, tmp_path / "a-file"))
    _one_line_error(result, rf"{tmp_path / 'a-file'}\W.*(is a file|Not a directory)")


def test_a_full_device_is_a_one_line_error(inputs):
    good, _ = inputs
    result = CliRunner().invoke(main, ["bpe", "encode", str(good), "-o", "/dev/full"])
    _one_line_error(result, r"/dev/full: .*No space left on device")


def _unshare_works() -> bool:
    """User and mount namespaces, where mounting a tmpfs needs no privileges."""
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -rm (unprivileged user namespaces)")
@pytest.mark.parametrize("output", ["train --out", "count-pretokens --out"])
def test_a_full_or_read_only_filesystem_is_a_one_line_error(tmp_path, inputs, output):
    """A real tmpfs, filled up, and a read-only one, each mounted in a namespace of its own. (Beam logs a
    failing step's traceback itself; the command's own last word is the one-line error.)"""
    good, _ = inputs
    mount = tmp_path / "mnt"
    mount.mkdir()
    command = " ".join(map(str, [sys.executable, "-m", "webtext.cli", *OUTPUTS[output](good, mount / "out")]))
    fill = f"(head -c 1M /dev/zero > {mount}/filler 2>/dev/null; true)"
    full = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            f"mount -t tmpfs -o size=64k tmpfs {mount} && {fill} && {{ {command}; }}; s=$?; ls -A {mount}/out; exit $s",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert full.returncode == 1, full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: {mount}/out: cannot write (") and "No space left on device" in last, (
        full.stderr
    )
    assert ".tmp" not in full.stdout  # no partial file left under a temporary name
    read_only = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {mount} && {command}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert read_only.returncode == 1, read_only.stderr
    assert (
        read_only.stderr.strip().splitlines()[-1]
        == f"Error: {mount}/out: cannot write (Read-only file system)"
    )
