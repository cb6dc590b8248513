"""samples/make_sample.py as a module, for the tests that use the bundled sample's data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _load():
    spec = importlib.util.spec_from_file_location("make_sample", SAMPLES / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sample"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


make_sample = sys.modules.get("make_sample") or _load()
