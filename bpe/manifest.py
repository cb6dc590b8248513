"""A directory of shards is complete when its manifest says so.

`webtext build` and `webtext tokenize` write their shards first and their summary (stats.json,
tokenize.json) last, atomically, with a manifest that lists every shard: its name, size in bytes, rows or
tokens, and sha256. A run killed while it writes shards, or stopped by a full disk, leaves some shards
under their final names and no summary; reading them as they are would train on part of a corpus without
a word. So every reader checks the manifest first (`check_manifest`): no summary, no manifest in it, a
shard missing, one it does not list, or one of another size is an `IncompleteOutputError` that names the
directory and the fault. Readers take `--allow-incomplete` for those who really want such a set (shards
written by other tools have no manifest either).

Here, below every other package, because the tokenizer trainer reads build outputs too.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

MANIFEST_KEY = "manifest"
"""The summary's key for the manifest: {"files": [{"name", "bytes", "sha256", and "rows" or "tokens"}]}."""


class IncompleteOutputError(ValueError):
    """A directory of shards that its manifest does not vouch for."""


class HashingWriter:
    """A binary stream that hashes and counts what goes through it to `stream`: a shard's manifest record
    comes from the bytes as they are written, with no second read (on GCS, a download)."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.bytes += len(memoryview(data).cast("B"))
        return self.stream.write(data)

    def tell(self) -> int:
        return self.bytes

    def __getattr__(self, name: str):  # flush, close, closed, ... of the stream written to
        return getattr(self.stream, name)


def file_record(name: str, writer: HashingWriter, **counts: int) -> dict:
    """The manifest entry of a file that `writer` wrote; counts: its rows or tokens."""
    return {"name": name, "bytes": writer.bytes, "sha256": writer.sha256.hexdigest(), **counts}


def manifest(records: Iterable[dict]) -> dict:
    """The manifest of a set of files, one entry per name (a retried write gives the same entry)."""
    return {"files": sorted({record["name"]: record for record in records}.values(), key=lambda r: r["name"])}


def check_manifest(
    directory: str,
    summary_name: str,
    summary: Mapping | None,
    present: Mapping[str, int],
    what: str,
    rerun: str,
    anyway: str = "pass --allow-incomplete to read what is there",
) -> list[str]:
    """The shard names `summary`'s manifest lists, after checking them against `present` (name -> size of
    the shards found in `directory`); IncompleteOutputError otherwise. what: "a build's" / "token";
    rerun: the command that makes a complete set; anyway: how to read the directory regardless."""
    fix = f"rerun `{rerun}` into an empty directory, or {anyway}"
    if summary is None:
        found = f"{len(present)} shard(s) but no {summary_name}" if present else f"no {summary_name}"
        raise IncompleteOutputError(
            f"{directory}: not a complete set of {what} shards: {found} (an interrupted run, or not its "
            f"output); {fix}"
        )
    files = (
        summary.get(MANIFEST_KEY, {}).get("files") if isinstance(summary.get(MANIFEST_KEY), dict) else None
    )
    if not isinstance(files, list):
        raise IncompleteOutputError(
            f"{directory}: {summary_name} has no manifest of its shards (written by an older version?); {fix}"
        )
    faults = manifest_faults(files, present)
    if faults:
        raise IncompleteOutputError(f"{directory}: its shards disagree with {summary_name}: {faults}; {fix}")
    listed = [record["name"] for record in files]
    return sorted(listed)


def manifest_faults(files: list[dict], present: Mapping[str, int]) -> str:
    """What differs between a manifest's `files` and the shards `present` (name -> size); "" if nothing."""
    listed = {record["name"]: record["bytes"] for record in files}
    faults = []
    missing = sorted(set(listed) - set(present))
    if missing:
        faults.append(f"{len(missing)} listed shard(s) missing ({missing[0]}...)")
    extra = sorted(set(present) - set(listed))
    if extra:
        faults.append(f"{len(extra)} shard(s) it does not list ({extra[0]}...: from another run?)")
    resized = sorted(name for name in set(listed) & set(present) if listed[name] != present[name])
    if resized:
        name = resized[0]
        faults.append(
            f"{len(resized)} shard(s) of another size ({name}: {present[name]:,} bytes, {listed[name]:,} listed)"
        )
    return "; ".join(faults)


def read_summary(path: str | os.PathLike) -> dict | None:
    """A local summary file's JSON; None when there is none; IncompleteOutputError when it is torn."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse_summary(text, path)


def parse_summary(text: str, path: str | os.PathLike) -> dict:
    """A summary's JSON, or IncompleteOutputError naming `path` (a torn or foreign file)."""
    try:
        summary = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise IncompleteOutputError(f"{path}: not a readable summary ({error})") from None
    if not isinstance(summary, dict):
        raise IncompleteOutputError(f"{path}: not a summary (a JSON object)")
    return summary


def check_directory(
    directory: str | os.PathLike, summary_name: str, shard_glob: str, what: str, rerun: str, **anyway: str
) -> list[Path]:
    """`check_manifest` on a local directory: the paths of its listed shards."""
    directory = Path(directory)
    present = {
        entry.name: entry.stat().st_size
        for entry in os.scandir(directory)
        if entry.is_file() and fnmatch.fnmatchcase(entry.name, shard_glob)
    }
    summary = read_summary(directory / summary_name)
    names = check_manifest(str(directory), summary_name, summary, present, what, rerun, **anyway)
    return [directory / name for name in names]
