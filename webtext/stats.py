"""The build's funnel, its drops by reason and its conservation check, from the pipeline's counters.

All three are derived from the stage declarations of `webtext.stages`: the funnel is the first stage's
input and what each stage passes on, the drops are each stage's `<stage>_dropped_<reason>` counters, and
every stage that does not merge its inputs must conserve them: what entered it was passed on or dropped
with a reason. This module turns the counters into `stats.json` and the table `webtext build` prints.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from webtext.stages import PIPELINE, STAGES, WARC, Stage


class ConservationError(RuntimeError):
    """A stage's counters do not add up: what entered it is not what it passed on plus what it dropped."""


def funnel_rows() -> Iterator[tuple[str, str, Stage | None]]:
    """(counter, label, the stage whose drops lead to the row, if any) for each row of the funnel, in order."""
    for stage in PIPELINE:
        if stage.entered is not None:
            yield stage.entered, stage.entered_label, None
        if stage.subtotal is not None:
            yield stage.subtotal.name, stage.subtotal.label, None
        yield stage.passed, stage.label, stage


def drops(counters: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """{stage: {reason: count}} of every declared stage and reason, zeros left out, both sorted by name."""
    result: dict[str, dict[str, int]] = {}
    for stage in sorted(STAGES, key=lambda stage: stage.name):
        for reason in sorted(stage.reasons):
            value = counters.get(stage.drop_counter(reason), 0)
            if value:
                result.setdefault(stage.name, {})[reason] = value
    return result


def funnel(counters: Mapping[str, int]) -> dict[str, int]:
    """The count at each row of the funnel, in order."""
    values = {name: counters.get(name, 0) for name, _, _ in funnel_rows()}
    for stage in PIPELINE:
        if stage.subtotal is not None:
            less = _dropped(counters, stage, stage.subtotal.less)
            values[stage.subtotal.name] = counters.get(_entered(stage), 0) - less
    return values


def _entered(stage: Stage) -> str:
    """The counter of what enters `stage` (a stage of PIPELINE)."""
    if stage.entered is not None:
        return stage.entered
    return PIPELINE[PIPELINE.index(stage) - 1].passed


def _dropped(counters: Mapping[str, int], stage: Stage, reasons: tuple[str, ...]) -> int:
    return sum(counters.get(stage.drop_counter(reason), 0) for reason in reasons)


def conservation(counters: Mapping[str, int]) -> dict[str, dict]:
    """{stage: {"in", "passed", "dropped", "ok"}} for every stage of PIPELINE that does not merge its inputs:
    ok when every document that entered it was passed on or dropped with a reason."""
    record = {}
    for stage in PIPELINE:
        if stage.merges:
            continue
        entered = counters.get(_entered(stage), 0)
        passed = counters.get(stage.passed, 0)
        dropped = _dropped(counters, stage, stage.reasons)
        record[stage.name] = {
            "in": entered,
            "passed": passed,
            "dropped": dropped,
            "ok": entered == passed + dropped,
        }
    return record


def check_conservation(stats: Mapping) -> None:
    """Raises ConservationError naming every stage of `stats` whose documents do not add up, and its numbers."""
    broken = [
        f"{name}: {check['in']:,} in, {check['passed']:,} passed + {check['dropped']:,} dropped"
        for name, check in stats["conservation"].items()
        if not check["ok"]
    ]
    if broken:
        raise ConservationError(f"the build's counters do not add up at {'; '.join(broken)}")


def build_stats(counters: Mapping[str, int], **extra) -> dict:
    """What stats.json holds: the funnel, the drops by stage and reason, the conservation check, every
    counter, and `extra`."""
    return {
        "funnel": funnel(counters),
        "dropped": drops(counters),
        "conservation": conservation(counters),
        "counters": dict(sorted(counters.items())),
        **extra,
    }


def format_table(stats: Mapping) -> str:
    """The funnel as a table, each row with the drops that led to it, then the WARC records skipped."""
    rows = []
    dropped, counters = stats["dropped"], stats["counters"]
    labels = list(funnel_rows())
    width = max(len(label) for _, label, _ in labels)
    for name, label, stage in labels:
        reasons = []
        if stage is not None:
            reasons += [f"{reason} {count:,}" for reason, count in dropped.get(stage.name, {}).items()]
            reasons += [
                f"{note} {counters[counter]:,}" for counter, note in stage.notes if counters.get(counter)
            ]
        suffix = f"   dropped: {', '.join(reasons)}" if reasons else ""
        rows.append(f"{label:<{width}}  {stats['funnel'][name]:>12,}{suffix}")
    if WARC.name in dropped:
        skipped = dropped[WARC.name]
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in skipped.items())
        rows.append(f"{WARC.label + ' skipped':<{width}}  {sum(skipped.values()):>12,}   {reasons}")
    return "\n".join(rows)
