"""Complete or refused: a run killed while it writes shards, or stopped by a full disk, leaves an output
that every consumer refuses (`bpe.manifest`), and a rerun into it says how to clean it up.

The kills are real: `webtext build` / `tokenize` in a subprocess, SIGKILLed the moment a shard appears
under its final name. The full disk is a real one for the process: RLIMIT_FSIZE makes every write past
the limit fail as ENOSPC would (EFBIG), in the middle of the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from manifests import write_manifest
from tiny_gpt2 import save_tiny_hf_gpt2

from bpe.manifest import IncompleteOutputError, check_directory
from webtext.cli import main
from webtext.shards import SHARD_GLOB, STATS_FILE

REPO = Path(__file__).resolve().parents[1]
SAMPLE = [
    *("--submissions", "samples/build/RS_*.zst", "--warc", "samples/build/*.warc.gz"),
    *("--before", "2018-01-01"),
]


def webtext(*args: str, limit_bytes: int | None = None) -> subprocess.Popen:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen(
        [sys.executable, "-m", "webtext.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit if limit_bytes else None,
    )


def killed_at_first(pattern: str, out: Path, *args: str) -> list[str]:
    """Runs `webtext *args` and SIGKILLs it when a file matching `pattern` appears in `out`; the files
    left there. Fails if the run finished first (it never has: a run writes its summary well after)."""
    process = webtext(*args)
    while process.poll() is None and not list(out.glob(pattern)):
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "the run ended before a shard appeared"
    return sorted(path.name for path in out.iterdir())


@pytest.fixture(scope="module")
def killed_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("killed") / "web"
    left = killed_at_first(SHARD_GLOB, out, "build", *SAMPLE, "--num-shards", "8", "--out", str(out))
    assert STATS_FILE not in left and any(name.startswith("documents-") for name in left)
    return out


def test_a_killed_build_is_refused_by_tokenize_and_its_rerun_says_how_to_clean_up(killed_build, tmp_path):
    runner = CliRunner()
    tokenize = runner.invoke(main, ["tokenize", "--shards", str(killed_build), "--out", str(tmp_path / "t")])
    assert tokenize.exit_code == 1 and "Traceback" not in tokenize.output
    assert f"{killed_build}: not a complete set of a build's shards" in tokenize.output
    assert "no stats.json" in tokenize.output and "--allow-incomplete" in tokenize.output
    assert not (tmp_path / "t").exists() or not list((tmp_path / "t").glob("*.bin"))

    rerun = runner.invoke(main, ["build", *SAMPLE, "--out", str(killed_build)])
    assert rerun.exit_code == 1 and "of an interrupted run" in rerun.output
    assert f"rm -f {killed_build}/{SHARD_GLOB}" in rerun.output

    for bpe in (["bpe", "count"], ["bpe", "train", "--vocab-size", "300", "--out", str(tmp_path / "v")]):
        refused = runner.invoke(main, [*bpe, str(killed_build)])
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        assert "not a complete set of a build's shards" in refused.output, refused.output
        assert f"name its shards with a glob ({killed_build}/{SHARD_GLOB})" in refused.output

    anyway = runner.invoke(
        main, ["tokenize", "--shards", str(killed_build), "--out", str(tmp_path / "u"), "--allow-incomplete"]
    )
    assert anyway.exit_code == 0, anyway.output


def test_a_killed_tokenize_is_refused_by_train_and_heldout_eval(killed_build, tmp_path):
    """The shards a killed `tokenize` leaves are numbered from 000000 and look like a corpus; train and
    eval --task heldout refuse them unless told --allow-incomplete."""
    tokens = tmp_path / "tokens"
    args = ["tokenize", "--shards", str(killed_build), "--allow-incomplete", "--out", str(tokens)]
    left = killed_at_first("webtext_*.bin", tokens, *args, "--shard-tokens", "256", "--val-fraction", "0.5")
    assert "tokenize.json" not in left and any(name.startswith("webtext_") for name in left)
    runner = CliRunner()
    train_flags = ["--n-layer", "1", "--n-head", "1", "--n-embd", "8", "--seq-len", "8", "--batch-size", "2"]
    train_flags += ["--total-batch-tokens", "16", "--max-steps", "1", "--val-interval", "0"]
    train = runner.invoke(main, ["train", "--data", str(tokens), "--out", str(tmp_path / "m"), *train_flags])
    hf_dir = save_tiny_hf_gpt2(tmp_path / "hf", n_positions=32)
    heldout = ["eval", "--hf-dir", str(hf_dir), "--task", "heldout", "--data", str(tokens), "--no-progress"]
    evaluate = runner.invoke(main, heldout)
    for refused in (train, evaluate):
        assert refused.exit_code == 1 and "Traceback" not in refused.output, refused.output
        message = refused.output.strip()
        assert message.startswith(f"Error: {tokens}: not a complete set of token shards"), message
        assert "no tokenize.json" in message and "--allow-incomplete" in message
    assert not (tmp_path / "m" / "checkpoint.pt").exists()
    if list(tokens.glob("webtext_val_*.bin")):  # the kill may come before any val shard
        anyway = runner.invoke(main, [*heldout, "--allow-incomplete"])
        assert anyway.exit_code == 0, anyway.output


def test_a_build_that_fills_the_disk_fails_in_one_line_and_leaves_no_summary(tmp_path):
    out = tmp_path / "web"
    process = webtext("build", *SAMPLE, "--out", str(out), limit_bytes=20_000)  # the shard is ~38 kB
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr + stdout
    assert (
        "Error: the pipeline failed in WriteShards/Write: OSError: File too large (is the disk full?)"
        in stderr
    )
    assert sorted(os.listdir(out)) == []  # no summary, and the temporary file removed


def test_a_finished_build_lists_every_shard_with_its_size_rows_and_checksum(tmp_path):
    out = tmp_path / "web"
    process = webtext("build", *SAMPLE, "--num-shards", "3", "--out", str(out))
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    stats = json.loads((out / STATS_FILE).read_text())
    files = stats["manifest"]["files"]
    assert (
        [record["name"] for record in files]
        == stats["shards"]
        == sorted(p.name for p in out.glob(SHARD_GLOB))
    )
    for record in files:
        path = out / record["name"]
        assert record["bytes"] == path.stat().st_size
        assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert record["rows"] == pq.ParquetFile(path).metadata.num_rows
    assert sum(record["rows"] for record in files) == stats["funnel"]["documents_written"]
    assert check_directory(out, STATS_FILE, SHARD_GLOB, "a build's", "webtext build") == sorted(
        out.glob(SHARD_GLOB)
    )


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("missing", "1 listed shard(s) missing (b.bin...)"),
        ("extra", "1 shard(s) it does not list (c.bin...: from another run?)"),
        ("resized", "1 shard(s) of another size (a.bin: 5 bytes, 3 listed)"),
        ("torn", "summary.json: not a readable summary"),
        ("no manifest", "summary.json has no manifest of its shards"),
        ("no summary", "not a complete set of token shards: 2 shard(s) but no summary.json"),
    ],
)
def test_a_directory_that_disagrees_with_its_manifest_is_refused_naming_the_fault(tmp_path, fault, message):
    (tmp_path / "a.bin").write_bytes(b"abc")
    (tmp_path / "b.bin").write_bytes(b"defg")
    summary = tmp_path / "summary.json"
    write_manifest(tmp_path, summary.name, "*.bin")
    assert check_directory(tmp_path, summary.name, "*.bin", "token", "webtext tokenize") == [
        tmp_path / "a.bin",
        tmp_path / "b.bin",
    ]
    if fault == "missing":
        (tmp_path / "b.bin").unlink()
    elif fault == "extra":
        (tmp_path / "c.bin").write_bytes(b"")
    elif fault == "resized":
        (tmp_path / "a.bin").write_bytes(b"abcde")
    elif fault == "torn":
        summary.write_text(summary.read_text()[:-20])
    elif fault == "no manifest":
        summary.write_text("{}")
    else:
        summary.unlink()
    with pytest.raises(IncompleteOutputError) as raised:
        check_directory(tmp_path, summary.name, "*.bin", "token", "webtext tokenize")
    assert message in str(raised.value) and str(tmp_path) in str(raised.value)


@pytest.mark.parametrize("command", ["build", "tokenize"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(command, tmp_path):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    args = [*SAMPLE] if command == "build" else ["--shards", str(tmp_path)]
    for out in (in_the_way, in_the_way / "below"):
        result = CliRunner().invoke(main, [command, *args, "--out", str(out)])
        assert result.exit_code == 1, result.output
        assert result.output.strip() == f"Error: {out}: cannot write there (a file is in the way)"
