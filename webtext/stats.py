"""The build's funnel and its drops by reason, from the pipeline's counters.

Every step counts what it keeps and, as `<stage>_dropped_<reason>`, what it drops; this module turns
those counters into `stats.json` and the table `webtext build` prints, and checks that they add up.
"""

from __future__ import annotations

from collections.abc import Mapping

DROPPED_INFIX = "_dropped_"

FUNNEL = (
    ("submission_lines", "submission lines read"),
    ("submissions", "unique submissions"),
    ("link_posts", "link posts"),
    ("links_kept", "links kept"),
    ("unique_urls", "unique URLs"),
    ("pages_fetched", "pages fetched"),
    ("documents_extracted", "documents extracted"),
    ("documents_passed_filters", "passed filters"),
    ("documents_unique", "unique documents"),
    ("documents_near_unique", "after near-dedup"),
    ("documents_written", "documents written"),
)

STAGE_OF_STEP = {
    "submissions": ("submissions",),
    "links_kept": ("links",),
    "pages_fetched": ("fetch",),
    "documents_extracted": ("extract",),
    "documents_passed_filters": ("filter",),
    "documents_unique": ("dedup",),
    "documents_near_unique": ("near_dedup",),
}
"""Which drops happen on the way to each funnel step (the table prints them on that step's row)."""

NOT_LINK_POSTS = ("links_dropped_self_post", "links_dropped_no_url")


def drops(counters: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """{stage: {reason: count}} from `<stage>_dropped_<reason>` counters, zeros left out."""
    result: dict[str, dict[str, int]] = {}
    for name, value in sorted(counters.items()):
        stage, infix, reason = name.partition(DROPPED_INFIX)
        if infix and value:
            result.setdefault(stage, {})[reason] = value
    return result


def funnel(counters: Mapping[str, int]) -> dict[str, int]:
    """The counts at each step of FUNNEL, in order."""
    values = {name: counters.get(name, 0) for name, _ in FUNNEL}
    values["link_posts"] = counters.get("submissions", 0) - sum(
        counters.get(name, 0) for name in NOT_LINK_POSTS
    )
    return values


def build_stats(counters: Mapping[str, int], **extra) -> dict:
    """What stats.json holds: the funnel, the drops by stage and reason, every counter, and `extra`."""
    return {
        "funnel": funnel(counters),
        "dropped": drops(counters),
        "counters": dict(sorted(counters.items())),
        **extra,
    }


def format_table(stats: Mapping) -> str:
    """The funnel as a table, each step with the drops that led to it."""
    rows = []
    dropped = stats["dropped"]
    width = max(len(label) for _, label in FUNNEL)
    for name, label in FUNNEL:
        reasons = []
        for stage in STAGE_OF_STEP.get(name, ()):
            reasons += [f"{reason} {count:,}" for reason, count in dropped.get(stage, {}).items()]
        if name == "submissions" and stats["counters"].get("dump_files_truncated"):
            reasons.append(f"truncated dump files {stats['counters']['dump_files_truncated']:,}")
        suffix = f"   dropped: {', '.join(reasons)}" if reasons else ""
        rows.append(f"{label:<{width}}  {stats['funnel'][name]:>12,}{suffix}")
    if "warc" in dropped:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in dropped["warc"].items())
        rows.append(f"{'WARC records skipped':<{width}}  {sum(dropped['warc'].values()):>12,}   {reasons}")
    return "\n".join(rows)
