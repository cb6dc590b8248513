"""The summary a finished `webtext build` or `tokenize` leaves beside its shards, for shards a test made
by hand: its manifest (`bpe.manifest`) is what makes a directory of shards complete."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bpe.manifest import MANIFEST_KEY


def write_manifest(directory: Path, summary_name: str, shard_glob: str, **summary) -> dict:
    """Writes `directory/summary_name` listing the shards that match `shard_glob` there, as a run would."""
    files = [
        {
            "name": path.name,
            "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
        for path in sorted(directory.glob(shard_glob))
    ]
    summary = {**summary, MANIFEST_KEY: {"files": files}}
    (directory / summary_name).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
