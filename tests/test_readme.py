"""The README's examples run as written: every ```python block, and every command of its quick start.

The examples are read from README.md itself, so an edit that breaks one fails here. In a Python block,
a line `expression  # literal` asserts that the expression equals the literal (`# [15496, 995]`, or the
literal before a `;` or `:` that explains it), and `expression  # SomeError: ...` that it raises SomeError.
Everything runs in an empty directory holding only a link to samples/, as a stranger's checkout would.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import re
import shlex
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, flags=re.S | re.M)
QUICK_START = re.search(r"^## Quick start\n.*?^```sh\n(.*?)^```$", README, flags=re.S | re.M)
EXCEPTION = re.compile(r"([A-Z]\w*(?:Error|Exception))\b")


@pytest.fixture
def stranger_dir(tmp_path, monkeypatch) -> Path:
    (tmp_path / "samples").symlink_to(REPO / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEBTEXT_VOCAB", raising=False)
    return tmp_path


def _expectation(comment: str):
    """(kind, value): ("raises", exception class), ("equals", literal), or (None, None) for prose."""
    text = comment.lstrip("#").strip()
    raised = EXCEPTION.match(text)
    if raised and isinstance(getattr(builtins, raised.group(1), None), type):
        return "raises", getattr(builtins, raised.group(1))
    for candidate in (text, text.split(";")[0], text.split(": ")[0]):
        try:
            return "equals", ast.literal_eval(candidate.strip())
        except (ValueError, SyntaxError):
            continue
    return None, None


def run_block(source: str) -> int:
    """Runs a README block statement by statement, checking the commented results; returns the checks made."""
    comments = {
        token.start[0]: token.string
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    namespace: dict = {"__name__": "__readme__"}
    checks = 0
    for node in ast.parse(source).body:
        kind, value = _expectation(comments.get(node.end_lineno, ""))
        if not isinstance(node, ast.Expr) or kind is None:
            exec(compile(ast.Module([node], []), "README.md", "exec"), namespace)
            continue
        expression = compile(ast.Expression(node.value), "README.md", "eval")
        line = ast.unparse(node)
        if kind == "raises":
            with pytest.raises(value):
                eval(expression, namespace)
        else:
            assert eval(expression, namespace) == value, line
        checks += 1
    return checks


def test_the_readme_has_the_examples_this_file_runs():
    assert len(PYTHON_BLOCKS) >= 3
    assert QUICK_START is not None, "README.md lost its '## Quick start' ```sh block"


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_as_written(index, stranger_dir):
    source = PYTHON_BLOCKS[index]
    checks = run_block(source)
    assert checks >= 1 or "#" not in source  # a block that shows results shows checked ones
    for saved in re.findall(r'save(?:_hf)?\([^)]*"(out/[^"]+)"', source):
        assert (stranger_dir / saved).is_dir(), saved


def test_a_wrong_commented_result_fails(stranger_dir):
    with pytest.raises(AssertionError):
        run_block('len("abc")  # 4\n')
    with pytest.raises(pytest.fail.Exception):
        run_block('int("1")  # ValueError: not a number\n')
    assert run_block('int("x")  # ValueError: not a number\nlen("ab")  # 2; two\n') == 2


def test_quick_start_commands_run_as_written(stranger_dir):
    commands = [
        line for line in QUICK_START.group(1).splitlines() if line.strip() and not line.startswith("#")
    ]
    assert commands[0].startswith("webtext build") and len(commands) >= 6
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("WEBTEXT_VOCAB", None)
    for command in commands:
        assert shlex.split(command)[0] == "webtext", command
        result = subprocess.run(
            command, shell=True, cwd=stranger_dir, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        # Beam's import-time warnings ("apitools not found ...") must not reach the user.
        assert "WARNING:root" not in result.stderr and "apitools" not in result.stderr, command
    assert (stranger_dir / "out/quick/model/checkpoint.pt").is_file()
