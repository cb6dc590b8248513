"""The counters every WebText step writes, under one namespace, and reading them back after a run."""

from __future__ import annotations

from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.runners.runner import PipelineResult

METRICS_NAMESPACE = "webtext"


def count(name: str, value: int = 1) -> None:
    Metrics.counter(METRICS_NAMESPACE, name).inc(value)


def read_counters(result: PipelineResult) -> dict[str, int]:
    """Every counter of a finished run, summed over steps; committed values where the runner has them."""
    counters: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + value
    return counters
