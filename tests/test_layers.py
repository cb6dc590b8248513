"""The packages' import direction: the CLI on top, `pipelines` over the libraries, `bpe` at the bottom.

Every import counts, those inside functions too (the CLI imports heavy modules lazily; a library that did
the same would still depend on what it imports).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("webtext", "bpe", "model", "pipelines")

MAY_IMPORT = {
    "bpe": {"bpe"},
    "webtext": {"webtext"},
    "model": {"model", "bpe"},
    "pipelines": {"pipelines", "webtext", "bpe", "model"},
    "webtext.cli": {"webtext.cli", "webtext", "bpe", "model", "pipelines"},
}
"""Layer -> the layers its modules may import. `webtext.cli` is the top layer and its own: the webtext
library modules beside it never import it."""


def layer_of(module: str) -> str:
    return (
        "webtext.cli"
        if module == "webtext.cli" or module.startswith("webtext.cli.")
        else module.split(".")[0]
    )


def imports_of(path: Path) -> set[str]:
    """The modules of ours that `path` imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the layer test reads absolute ones)"
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] in OURS}


MODULES = sorted(p for package in OURS for p in (ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_import_only_the_layers_below_them(path):
    layer = layer_of(module_name(path))
    wrong = sorted(name for name in imports_of(path) if layer_of(name) not in MAY_IMPORT[layer])
    assert not wrong, f"{layer} may import {sorted(MAY_IMPORT[layer])} only; {path.name} imports {wrong}"


def test_the_rules_catch_the_imports_they_forbid(tmp_path):
    """The walk sees a lazy import inside a function and a from-import of a package's name."""
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from webtext import cli\n    import pipelines.shards\n")
    assert imports_of(module) == {"webtext", "webtext.cli", "pipelines.shards"}
    assert {layer_of(name) for name in imports_of(module)} - MAY_IMPORT["webtext"] == {
        "webtext.cli",
        "pipelines",
    }
    assert len(MODULES) > 40 and any(layer_of(module_name(p)) == "webtext.cli" for p in MODULES)
