"""Steps shared by the pipelines that read files."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.fileio import EmptyMatchTreatment, MatchAll


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
