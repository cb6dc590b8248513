"""The two outputs of every document step: what it keeps, and a `Dropped` record of what it drops and why.

A drop is counted by its stage's declared reason (`webtext.stages`) as it is emitted, so the records
written with `--write-dropped` and the counters of stats.json always agree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pipelines.metrics import count_dropped
from webtext.stages import Stage

DROPPED = "dropped"
"""The tag of every document step's side output of `Dropped` records."""


@dataclass(frozen=True)
class Dropped:
    """A URL or document that left the pipeline, and why."""

    url: str
    stage: str
    reason: str
    duplicate_of: str | None = None
    """For deduplication: the id of the document that was kept instead."""

    def as_json(self) -> str:
        return json.dumps({key: value for key, value in asdict(self).items() if value is not None})


def drop(url: str, stage: Stage, reason: str, duplicate_of: str | None = None) -> beam.pvalue.TaggedOutput:
    """The side output for `url`, dropped by `stage` for `reason` (one it declares), counted."""
    count_dropped(stage, reason)
    return beam.pvalue.TaggedOutput(DROPPED, Dropped(url, stage.name, reason, duplicate_of))


def with_dropped(step: beam.PTransform, label: str, items: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
    """`items | step` as its outputs `kept` and `dropped`. The composite steps returning this carry no
    return hint on `expand`: Beam reads only PCollection hints there and warns at every run otherwise."""
    return items | label >> step.with_outputs(DROPPED, main="kept")


def windowed(output):
    """An output of finish_bundle, which must carry its window (the global one here)."""
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(output.tag, GlobalWindows.windowed_value(output.value))
    return GlobalWindows.windowed_value(output)
