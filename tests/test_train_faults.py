"""`webtext train` under faults: an --out that holds a run, kills while files are rewritten, torn logs, orphan
temporary files, token ids past the vocabulary, and outputs that cannot be written. Every fault is real (a
real run, a SIGKILL, a file where a directory should be, a file-size limit) and must end in a one-line
error or a note, never a traceback or a lost history."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from manifests import write_manifest
from test_train import REPO, config, logged, one_thread, write_data  # noqa: F401 (one_thread: autouse)

from model.checkpoint import load_checkpoint
from model.loader import TokenLoaderError
from model.tokens import SHARD_GLOB, SUMMARY_FILE, write_shard
from model.train import train
from webtext.cli import main

FLAGS = (
    *("--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--vocab-size", "256"),
    *("--batch-size", "4", "--seq-len", "16", "--total-batch-tokens", "64", "--warmup-steps", "2"),
    *("--val-interval", "0", "--checkpoint-interval", "0", "--max-steps", "6"),
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_data(tmp_path / "data")


def webtext_train(data: Path, out: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(out), *FLAGS, *options])


def one_line_error(result: Result, *names: str, code: int = 1) -> str:
    """The error of a failed command: exit `code`, one line, no traceback, naming every one of `names`."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: ") and all(name in message for name in names), message
    return message


def test_an_out_dir_holding_a_run_is_refused_unless_resume_or_overwrite(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert webtext_train(data, out).exit_code == 0
    before = (out / "checkpoint.pt").read_bytes(), (out / "log.jsonl").read_bytes()
    refused = webtext_train(data, out, "--max-steps", "3")
    one_line_error(refused, str(out), "--resume", "--overwrite")
    assert "| loss" not in refused.output  # before any training step
    assert ((out / "checkpoint.pt").read_bytes(), (out / "log.jsonl").read_bytes()) == before
    # A run killed before its first checkpoint left only its log: that is a run too.
    (out / "checkpoint.pt").unlink()
    one_line_error(webtext_train(data, out), str(out), "--overwrite")
    contradiction = webtext_train(data, out, "--resume", "--overwrite")
    assert contradiction.exit_code == 2 and "--resume" in contradiction.output

    again = webtext_train(data, out, "--max-steps", "3", "--overwrite")
    assert again.exit_code == 0, again.output
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    assert [row["step"] for row in logged(out)] == [0, 1, 2]


def test_a_kill_while_resume_rewrites_the_log_leaves_the_old_log_or_the_new(
    data: Path, tmp_path: Path
) -> None:
    """The resumed run rewrites log.jsonl without the rows past its checkpoint; SIGKILLed in the middle, the
    file must hold either the history as it was or as rewritten, never a part of it."""
    out = tmp_path / "out"
    assert webtext_train(data, out, "--stop-step", "3").exit_code == 0
    rows = logged(out)
    # A long history (so that the rewrite takes a while), then rows of steps past the checkpoint at step 3,
    # as a run killed between checkpoints leaves them: the rewrite drops those.
    history = [*[rows[0]] * 150_000, *rows, *[{**rows[-1], "step": step} for step in (3, 4)]]
    old = "".join(json.dumps(row) + "\n" for row in history).encode()
    new = "".join(json.dumps(row) + "\n" for row in history if row["step"] < 3).encode()
    (out / "log.jsonl").write_bytes(old)
    inode = (out / "log.jsonl").stat().st_ino
    command = [sys.executable, "-m", "webtext.cli", "train", "--data", str(data), "--out", str(out), *FLAGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([*command, "--resume"], cwd=REPO, env=env, stderr=subprocess.PIPE)
    deadline, trigger = time.monotonic() + 120, None
    while trigger is None and process.poll() is None and time.monotonic() < deadline:
        log = out / "log.jsonl"
        if list(out.glob(".log.jsonl.*.tmp")):
            trigger = "temporary file"
        elif log.stat().st_size != len(old) or log.stat().st_ino != inode:
            trigger = "log.jsonl changed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert trigger == "temporary file", (trigger, process.stderr.read().decode()[-2000:])
    assert (out / "log.jsonl").read_bytes() in (old, new)

    # The next resume removes the killed run's temporary file, says so, and keeps the history.
    again = webtext_train(data, out, "--resume")
    assert again.exit_code == 0, again.output
    assert "removed" in again.stderr and ".log.jsonl." in again.stderr
    assert not list(out.glob(".*.tmp"))
    assert (out / "log.jsonl").read_bytes().startswith(new)
    assert [row["step"] for row in logged(out)][-4:] == [2, 3, 4, 5]


def test_resume_drops_a_torn_last_log_line_and_names_a_bad_line_elsewhere(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, log = tmp_path / "out", tmp_path / "out" / "log.jsonl"
    whole = train(config(data, tmp_path / "whole"))["losses"]
    train(config(data, out, stop_step=3))
    intact = log.read_text()
    capsys.readouterr()
    log.write_text(intact + '{"step": 3, "loss": 5.')  # the write of step 3's row cut short
    assert train(config(data, out, resume=True))["losses"] == whole[3:]
    assert f"{log}:4: dropped a torn last line" in capsys.readouterr().err
    assert [row["step"] for row in logged(out)] == list(range(6))

    for bad in ('{"step": 1, "loss": 5.', "[" * 10_000, '"a string"'):
        lines = intact.splitlines(keepends=True)
        log.write_text("".join([lines[0], bad + "\n", *lines[1:]]))
        with pytest.raises(ValueError, match=f"^{re.escape(str(log))}:2: "):
            train(config(data, out, resume=True))
    one_line_error(webtext_train(data, out, "--resume"), f"{log}:2: ")


def test_orphan_temporary_files_of_interrupted_saves_are_removed_at_start(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert webtext_train(data, out, "--stop-step", "3").exit_code == 0
    orphans = [".checkpoint.pt.k1ll3d.tmp", ".checkpoint.pt.a2b3c4.tmp", ".log.csv.x9y8z7.tmp"]
    others = ["checkpoint.pt.tmp", ".notes.txt.abc.tmp", ".checkpoint.pt.abc.tmp.keep"]
    for name in orphans + others:
        (out / name).write_bytes(b"\0" * 1000)
    resumed = webtext_train(data, out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(p.name for p in out.iterdir() if p.name not in others) == [
        "checkpoint.pt",
        "log.csv",
        "log.jsonl",
        "loss.png",
    ]
    assert all((out / name).exists() for name in others)
    note = next(line for line in resumed.stderr.splitlines() if "removed" in line)
    assert note.startswith("note: ") and str(out) in note and all(name in note for name in orphans)


@pytest.mark.parametrize(("vocab_size", "largest"), [(256, 300), (200, 230)])
def test_token_ids_past_the_vocabulary_name_the_shard(tmp_path: Path, vocab_size: int, largest: int) -> None:
    """300 >= 256 indexes past the embedding; 230 would index its padded rows (200 pads to 256) unseen."""
    directory = tmp_path / "data"
    directory.mkdir()
    write_shard(directory / "webtext_train_000000.bin", np.tile(np.arange(64), 40))
    tokens = np.tile(np.arange(64), 40)
    tokens[1000] = largest
    write_shard(directory / "webtext_train_000001.bin", tokens)
    shard = directory / "webtext_train_000001.bin"
    write_manifest(directory, SUMMARY_FILE, SHARD_GLOB)
    flags = ("--vocab-size", str(vocab_size), "--max-steps", "80")
    message = one_line_error(webtext_train(directory, tmp_path / "out", *flags), str(shard), str(largest))
    assert f"{vocab_size:,}" in message
    with pytest.raises(TokenLoaderError, match=str(shard)):
        train(config(directory, tmp_path / "lib", vocab_size=vocab_size, val_pattern=None, max_steps=80))


def test_an_out_that_cannot_be_written_is_refused_before_training(data: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    one_line_error(webtext_train(data, a_file), str(a_file), code=2)  # click's own check of --out
    with pytest.raises(OSError, match=re.escape(str(a_file))):
        train(config(data, a_file))
    message = one_line_error(webtext_train(data, a_file / "out" / "deeper"))
    assert message == f"Error: {a_file}: not a directory (a file is there)"
    assert a_file.read_text() == "not a directory"


def limit_file_size() -> None:
    """The kernel refuses writes past 100 kB (EFBIG), to root too: a disk that fills during the run."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_checkpoint_write_failing_mid_run_is_one_line_naming_the_file(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "webtext.cli", "train", "--data", str(data), "--out", str(out), *FLAGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Error: {out / 'checkpoint.pt'}: File too large"
    assert [row["step"] for row in logged(out)] == list(range(6))  # the steps ran; the save failed
    assert not (out / "checkpoint.pt").exists() and not list(out.glob(".*.tmp"))
