"""The `webtext` command: instant help, and the bpe encode/decode/count subcommands on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from webtext.cli import main

REPO = Path(__file__).resolve().parents[1]
WEBTEXT = str(Path(sys.executable).with_name("webtext"))


def test_help_is_instant_and_imports_nothing_heavy():
    started = time.perf_counter()
    result = subprocess.run([WEBTEXT, "--help"], capture_output=True, text=True, check=True)
    assert time.perf_counter() - started < 1.0
    assert "bpe" in result.stdout
    probe = "import sys, webtext.cli; print(sorted(m for m in ('torch', 'apache_beam', 'pyarrow', 'numpy', 'regex') if m in sys.modules))"
    imported = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert imported.strip() == "[]"


def test_encode_decode_round_trip_text_and_npy(gpt2_dir, tmp_path):
    text = "Hello world! naïve 中文 🙂\n  indented\n"
    source = tmp_path / "in.txt"
    source.write_text(text, encoding="utf-8")
    runner = CliRunner()

    encoded = runner.invoke(main, ["bpe", "encode", "--vocab", str(gpt2_dir), str(source)])
    assert encoded.exit_code == 0, encoded.output
    ids = [int(word) for word in encoded.stdout.split()]
    assert ids[:3] == [15496, 995, 0]
    decoded = runner.invoke(main, ["bpe", "decode", "--vocab", str(gpt2_dir)], input=encoded.stdout)
    assert decoded.stdout_bytes == text.encode("utf-8")

    npy = tmp_path / "ids.npy"
    result = runner.invoke(
        main, ["bpe", "encode", "--vocab", str(gpt2_dir), "--format", "npy", "-o", str(npy)], input=text
    )
    assert result.exit_code == 0, result.output
    array = np.load(npy)
    assert array.dtype == np.uint16 and array.tolist() == ids
    decoded = runner.invoke(main, ["bpe", "decode", "--vocab", str(gpt2_dir), "--format", "npy", str(npy)])
    assert decoded.stdout_bytes == text.encode("utf-8")


def test_encode_special_tokens_and_errors(gpt2_dir):
    runner = CliRunner()
    refused = runner.invoke(main, ["bpe", "encode", "--vocab", str(gpt2_dir)], input="a<|endoftext|>b")
    assert refused.exit_code != 0 and "--allowed-special" in refused.output
    allowed = runner.invoke(
        main, ["bpe", "encode", "--vocab", str(gpt2_dir), "--allowed-special", "all"], input="<|endoftext|>"
    )
    assert allowed.stdout.split() == ["50256"]
    ordinary = runner.invoke(
        main, ["bpe", "encode", "--vocab", str(gpt2_dir), "--ordinary"], input="<|endoftext|>"
    )
    assert len(ordinary.stdout.split()) > 1
    bad_id = runner.invoke(main, ["bpe", "decode", "--vocab", str(gpt2_dir)], input="15496 99999")
    assert bad_id.exit_code != 0 and "99999 is not in the vocabulary" in bad_id.output
    not_int = runner.invoke(main, ["bpe", "decode", "--vocab", str(gpt2_dir)], input="15496 x")
    assert not_int.exit_code != 0 and "must be integers" in not_int.output


def test_vocab_from_environment_and_bad_vocab_named(gpt2_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["bpe", "encode"], input="Hello world", env={"WEBTEXT_VOCAB": str(gpt2_dir)})
    assert result.stdout.split() == ["15496", "995"]
    (tmp_path / "encoder.json").write_text("{")
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\n")
    result = runner.invoke(main, ["bpe", "encode", "--vocab", str(tmp_path)], input="x")
    assert result.exit_code != 0 and "encoder.json:1: invalid JSON" in result.output


def test_count_reports_documents_bytes_tokens(gpt2_dir, gpt2, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = ["First document.", "Second one, with more words in it.", "Ünïcödé 文本"]
    (tmp_path / "a.txt").write_text(texts[0], encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": texts[1]}) + "\n", encoding="utf-8")
    pq.write_table(pa.table({"text": [texts[2]]}), tmp_path / "c.parquet")
    result = CliRunner().invoke(main, ["bpe", "count", "--vocab", str(gpt2_dir), "--json", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    expected_bytes = sum(len(t.encode()) for t in texts)
    expected_tokens = sum(len(gpt2.encode(t)) for t in texts)
    assert (summary["files"], summary["documents"], summary["bytes"]) == (3, 3, expected_bytes)
    assert summary["tokens"] == expected_tokens
    assert summary["bytes_per_token"] == round(expected_bytes / expected_tokens, 4)


def test_count_on_the_bundled_sample_via_the_installed_command():
    env = {key: value for key, value in os.environ.items() if key != "WEBTEXT_VOCAB"}  # gpt2 by default
    result = subprocess.run(
        [WEBTEXT, "bpe", "count", str(REPO / "samples" / "documents.jsonl")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "documents" in result.stdout and "bytes_per_token" in result.stdout


def test_count_unknown_format_names_the_path(gpt2_dir, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"\x00\x01")
    result = CliRunner().invoke(main, ["bpe", "count", "--vocab", str(gpt2_dir), str(tmp_path / "data.bin")])
    assert result.exit_code != 0 and "data.bin: unknown format" in result.output


def test_build_on_the_sample_prints_the_funnel_and_passes_beam_options(tmp_path):
    sample = REPO / "samples" / "build"
    out = tmp_path / "corpus"
    args = ["build", "--submissions", str(sample / "RS_*.zst"), "--warc", str(sample / "*.warc.gz")]
    args += ["--out", str(out), "--before", "2018-01-01", "--num-shards", "3", "--min-chars", "2500"]
    result = CliRunner().invoke(main, [*args, "--runner", "FnApiRunner", "--direct_num_workers=1"])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert "unique documents" in result.output and "too_short" in result.output
    assert stats["shards"] == [f"documents-0000{i}-of-00003.parquet" for i in range(3)]
    assert stats["dropped"]["filter"]["too_short"] > 1  # --min-chars reached the filter
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "already holds a build" in again.output
    # The settings stats.json records are the run's: as --config they print the same configuration.
    printed = CliRunner().invoke(main, [*args, "--print-config"])
    recorded = CliRunner().invoke(main, ["build", "--config", str(out / "stats.json"), "--print-config"])
    assert printed.exit_code == recorded.exit_code == 0, recorded.output
    assert recorded.output == printed.output and "before = 2018-01-01" in printed.output


def test_build_print_config_then_config_round_trips(tmp_path):
    flags = ["--before", "2018-01-01", "--min-chars", "100", "--block-host", "a.org,B.org", "--no-near-dedup"]
    flags += ["--max-top-ngram-char-fraction", "2:0.3", "--blocked-subreddits", "pics"]
    printed = CliRunner().invoke(main, ["build", *flags, "--print-config"])
    assert printed.exit_code == 0, printed.output
    assert "# submissions = ...  (required)" in printed.output
    assert 'blocked_hosts = ["a.org", "b.org"]' in printed.output and "enabled = false" in printed.output
    run_toml = tmp_path / "run.toml"
    run_toml.write_text(printed.output)
    again = CliRunner().invoke(main, ["build", "--config", str(run_toml), "--print-config"])
    assert again.output == printed.output
    # Flags given with --config override it.
    overridden = CliRunner().invoke(
        main, ["build", "--config", str(run_toml), "--min-chars", "7", "--print-config"]
    )
    assert "min_chars = 7" in overridden.output and "min_chars = 100" not in overridden.output


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[fetch]\ndeadlin = 5\n", "unknown key 'deadlin' in [fetch]"),
        ('[fetch]\ndeadline = "soon"\n', "[fetch] deadline: expected a number, got 'soon'"),
        ("[fetching]\ndeadline = 5\n", "unknown key 'fetching' at the top level"),
        ("[links]\nbefore = 2018\n", "[links] before: expected a date, got 2018"),
        ("submissions = [\n", "not TOML"),
        ("submissions = " + "[" * 5000 + "\n", "not TOML (nested too deeply)"),
        ('{"config": ' + "[" * 100_000, "not JSON (nested too deeply)"),
    ],
)
def test_build_config_file_errors_name_table_and_key(tmp_path, toml, message):
    run_toml = tmp_path / ("run.json" if toml.startswith("{") else "run.toml")
    run_toml.write_text(toml)
    result = CliRunner().invoke(main, ["build", "--config", str(run_toml), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_build_needs_its_inputs_from_flags_or_the_file(tmp_path):
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "missing --submissions" in result.output


def test_train_settings_print_with_their_help_and_need_data(tmp_path):
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    assert "--lr FLOAT" in help_text and "Run settings" in help_text
    printed = CliRunner().invoke(main, ["train", "--print-config", "--lr", "0.001"])
    assert printed.exit_code == 0, printed.output
    assert "lr = 0.001" in printed.output and "train_pattern" not in printed.output
    missing = CliRunner().invoke(main, ["train", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "missing --data or --out" in missing.output


def test_build_rejects_contradictory_options(tmp_path):
    base = ["build", "--submissions", "x.zst", "--out", str(tmp_path)]
    for extra, message in [
        (["--fetch", "warc"], "--fetch warc needs --warc"),
        (["--warc", "a.warc.gz", "--save-warc"], "--save-warc saves a live crawl"),
        (["--before", "2018-13-01"], "2018-13-01"),
        (["--max-top-ngram-char-fraction", "2=0.2"], "n:limit pairs"),
        (["--host-dealy", "5"], "no such option: --host-dealy"),
    ]:
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code == 2 and message in result.output, result.output
    missing = CliRunner().invoke(main, base)
    assert missing.exit_code == 1 and "x.zst: no files match" in missing.output


DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


def test_a_named_runner_brings_its_own_options_and_beam_imports_quietly(tmp_path):
    from pipelines.options import UnknownOptionsError, check_pipeline_args

    check_pipeline_args(["--runner", DASK_RUNNER, "--dask_client_address=tcp://127.0.0.1:8786"])
    with pytest.raises(UnknownOptionsError, match="no such option: --dask_clinet_address"):
        check_pipeline_args(["--runner", DASK_RUNNER, "--dask_clinet_address=tcp://127.0.0.1:8786"])
    check_pipeline_args(
        ["--runner", "elsewhere.OwnRunner", "--own_option=1"]
    )  # not importable here: Beam's call

    # In fresh processes: importing a runner's module registers its options for the rest of the process.
    def build(*options: str) -> subprocess.CompletedProcess:
        command = [
            WEBTEXT,
            "build",
            "--submissions",
            str(tmp_path / "RS_none.zst"),
            "--out",
            str(tmp_path / "o"),
        ]
        return subprocess.run([*command, *options], capture_output=True, text=True, timeout=120)

    accepted = build("--runner", DASK_RUNNER, "--dask_client_address=tcp://127.0.0.1:8786")
    assert accepted.returncode == 1, accepted.stderr  # past the option check, stopped by the missing dump
    assert "RS_none.zst: no files match" in accepted.stderr
    refused = build(
        "--dask_client_address=tcp://127.0.0.1:8786"
    )  # the default FnApiRunner has no such option
    assert refused.returncode == 2
    assert "no such option: --dask_client_address=tcp://127.0.0.1:8786" in refused.stderr
    for result in (accepted, refused):  # Beam's "apitools not found" warning is not the user's business
        assert "WARNING" not in result.stderr and "apitools" not in result.stderr, result.stderr
