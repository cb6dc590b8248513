"""Steps shared by the pipelines that read and write files."""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence
from typing import BinaryIO, TypeVar

import apache_beam as beam
from apache_beam.io.fileio import EmptyMatchTreatment, MatchAll
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

T = TypeVar("T")


def write_atomically(directory: str, name: str, write: Callable[[BinaryIO], T]) -> tuple[str, T]:
    """`write` fills a temporary file (any Beam filesystem) that is then renamed to `directory/name`, so no
    reader ever sees a partial file under the final name; a retried bundle replaces the same content."""
    final = FileSystems.join(directory, name)
    temporary = FileSystems.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        result = write(stream)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([temporary], [final])
    return final, result


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
