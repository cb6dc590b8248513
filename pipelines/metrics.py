"""The counters every WebText step writes, under one namespace, and reading them back after a run.

A stage's documents are counted through its declaration (`webtext.stages`): `count_passed(LINKS)` and
`count_dropped(LINKS, reason)`, which refuses a reason the stage does not declare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.runners.runner import PipelineResult

if TYPE_CHECKING:  # (the tokenize pipeline counts too, without the build's stages and their imports)
    from webtext.stages import Stage

METRICS_NAMESPACE = "webtext"


def count(name: str, value: int = 1) -> None:
    Metrics.counter(METRICS_NAMESPACE, name).inc(value)


def count_passed(stage: Stage, value: int = 1) -> None:
    """`value` documents (links, pages...) that `stage` passes on."""
    count(stage.passed, value)


def count_dropped(stage: Stage, reason: str, value: int = 1) -> None:
    """`value` documents that `stage` drops for `reason`, one of its declared reasons (else ValueError)."""
    count(stage.drop_counter(reason), value)


def read_counters(result: PipelineResult) -> dict[str, int]:
    """Every counter of a finished run, summed over steps; committed values where the runner has them."""
    counters: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + value
    return counters
