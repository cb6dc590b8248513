"""Steps shared by the pipelines that read and write files."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import operator
import os
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import BinaryIO, TypeVar

import apache_beam as beam
from apache_beam.io.fileio import EmptyMatchTreatment, MatchAll
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from bpe.files import check_writable
from bpe.manifest import HashingWriter, check_manifest, file_record, manifest, manifest_faults, parse_summary

PENDING_MANIFEST = ".manifest.pending.json"
"""The shards' records, written by the pipeline for `finish_manifest` to fold into the run's summary."""

T = TypeVar("T")


def write_atomically(directory: str, name: str, write: Callable[[BinaryIO], T]) -> tuple[dict, T]:
    """`write` fills a temporary file (any Beam filesystem) that is then renamed to `directory/name`, so no
    reader ever sees a partial file under the final name; a retried bundle replaces the same content.
    Returns the file's manifest record (`bpe.manifest.file_record`: name, bytes, sha256) and what `write`
    returned. A local file is synced before the rename and its directory after, so that a power cut
    cannot leave a summary that vouches for shards still in the page cache."""
    final = FileSystems.join(directory, name)
    temporary = FileSystems.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            writer = HashingWriter(stream)
            result = write(writer)
    except BaseException:
        with contextlib.suppress(Exception):  # a full disk: leave no temporary to fill it further
            FileSystems.delete([temporary])
        raise
    local = FileSystems.get_scheme(final) is None
    if local:
        _fsync(temporary)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([temporary], [final])
    if local:
        _fsync(directory)
    return file_record(name, writer), result


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class MatchPaths(beam.PTransform):
    """File patterns (any Beam filesystem) -> each matching path once, even if several patterns match it.

    A pattern that matches nothing fails the pipeline. The Distinct is a shuffle, so the files spread
    over the workers instead of staying with the one that matched them.
    """

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection[str]:
        return (
            pipeline
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> MatchAll(EmptyMatchTreatment.DISALLOW)
            | "Paths" >> beam.Map(operator.attrgetter("path"))
            | "Deduplicate" >> beam.Distinct()
        )


class OutputError(OSError):
    """A pipeline's worker could not write (a full disk, a read-only mount): the step and the cause."""


_WORKER_OS_ERROR = re.compile(
    r"\b(\w*Error): \[Errno (\d+)\] ([^\n]*?)(?: \[while running '([^']+)'\])?$", re.M
)


def run_pipeline(pipeline: beam.Pipeline) -> beam.runners.runner.PipelineResult:
    """Runs `pipeline` to the end. A worker's OSError reaches the launcher as a RuntimeError of its text
    (FnApiRunner) or the runner's own exception (Dataflow): it becomes an OutputError naming the step, so
    that a full disk is one line, not a Beam traceback. Any other failure is raised as it is."""
    beam_log = logging.getLogger("apache_beam.runners.common")  # logs each worker error with its traceback
    quiet = _QuietOSErrors()
    beam_log.addFilter(quiet)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as error:
        found = _WORKER_OS_ERROR.findall(str(error))
        if not found:
            raise
        kind, number, message, step = found[-1]
        hint = " (is the disk full?)" if int(number) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else ""
        where = f" in {step}" if step else ""
        failure = OutputError(f"the pipeline failed{where}: {kind}: {message}{hint}")
        failure.errno = int(number)
        raise failure from None
    finally:
        beam_log.removeFilter(quiet)
    return result


class _QuietOSErrors(logging.Filter):
    """Drops Beam's log record of a worker's OSError, which `run_pipeline` reports in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _WORKER_OS_ERROR.search(record.getMessage())


class WriteManifest(beam.PTransform):
    """The records of the shards written (`write_atomically`) -> one file of them in `directory`: the
    launcher reads it back after the run (`finish_manifest`) without reading the shards."""

    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory

    def expand(self, records: beam.PCollection[dict]) -> beam.PCollection[dict]:
        return (
            records
            | "AllRecords" >> beam.combiners.ToList()
            | "Write" >> beam.Map(_write_pending, self.directory)
        )


def _write_pending(records: list[dict], directory: str) -> dict:
    pending = manifest(records)
    write_atomically(directory, PENDING_MANIFEST, lambda stream: stream.write(json.dumps(pending).encode()))
    return pending


def finish_manifest(directory: str, shard_glob: str) -> dict:
    """The manifest the pipeline wrote, checked against the shards in `directory` (a shard missing or one
    it does not list would mean another writer, or a lost rename: RuntimeError), its file removed."""
    pending_path = FileSystems.join(directory, PENDING_MANIFEST)
    with FileSystems.open(pending_path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        pending = json.loads(stream.read())
    found = FileSystems.match([FileSystems.join(directory, shard_glob)])[0].metadata_list
    present = {metadata.path.rsplit("/", 1)[-1]: metadata.size_in_bytes for metadata in found}
    faults = manifest_faults(pending["files"], present)
    if faults:
        raise RuntimeError(f"{directory}: the shards there are not the ones this run wrote: {faults}")
    FileSystems.delete([pending_path])
    return pending


def write_summary(directory: str, name: str, summary: dict) -> None:
    """The run's summary (stats.json, tokenize.json), written last and atomically: its manifest makes the
    directory's shards a complete set (`bpe.manifest`)."""
    write_atomically(
        directory, name, lambda stream: stream.write((json.dumps(summary, indent=2) + "\n").encode())
    )


def prepare_output(directory: str, outputs: Sequence[str], summary_name: str, what: str) -> None:
    """Refuses a `directory` that holds an earlier run's files (`outputs`: globs of the shards and other
    outputs; they would mix with this run's), saying how to clean it up; removes the temporary files
    that killed runs left behind."""

    if FileSystems.get_scheme(directory) is None:  # fail now, not when the shards are written at the end
        try:
            check_writable(directory)
        except OSError as error:
            why = "a file is in the way" if error.errno in (errno.EEXIST, errno.ENOTDIR) else error.strerror
            failure = OutputError(f"{directory}: cannot write there ({why or error})")
            failure.errno = error.errno
            raise failure from None

    def found(*patterns: str) -> list[str]:
        matched = FileSystems.match([FileSystems.join(directory, pattern) for pattern in patterns])
        return sorted(metadata.path for result in matched for metadata in result.metadata_list)

    if found(summary_name):
        raise FileExistsError(f"{directory}: already holds {what} ({summary_name}); use an empty directory")
    earlier, temporaries = found(*outputs), found(".*.tmp", PENDING_MANIFEST)
    if earlier:
        clean = " ".join(FileSystems.join(directory, pattern) for pattern in (*outputs, ".*.tmp"))
        raise FileExistsError(
            f"{directory}: holds {len(earlier)} file(s) of an interrupted run ({earlier[0]}; no "
            f"{summary_name}): remove them (rm -f {clean}) or use an empty directory"
        )
    if temporaries:
        FileSystems.delete(temporaries)
        print(f"note: removed {len(temporaries)} temporary file(s) of an interrupted run", file=sys.stderr)


def checked_inputs(
    directory: str, shard_glob: str, summary_name: str, what: str, rerun: str, allow_incomplete: bool
) -> list[str]:
    """The shards in `directory` (any Beam filesystem), after checking them against the manifest of its
    summary (`bpe.manifest.check_manifest`) unless `allow_incomplete`; FileNotFoundError when there are
    none."""
    found = FileSystems.match([FileSystems.join(directory, shard_glob)])[0].metadata_list
    present = {metadata.path.rsplit("/", 1)[-1]: metadata.size_in_bytes for metadata in found}
    if not present:
        raise FileNotFoundError(f"{FileSystems.join(directory, shard_glob)}: no files match ({what} output?)")
    if not allow_incomplete:
        summary_path = FileSystems.join(directory, summary_name)
        summary = None
        if FileSystems.exists(summary_path):
            with FileSystems.open(summary_path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                summary = parse_summary(stream.read().decode("utf-8", "replace"), summary_path)
        check_manifest(directory, summary_name, summary, present, what, rerun)
    return sorted(metadata.path for metadata in found)
