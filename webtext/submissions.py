"""Reddit submissions from Pushshift dumps: one JSON object a line, fields varying by era.

Pushshift's files span 2005-2023 and their fields drifted: `created_utc` is an int, a numeric string
or a float; early dumps lack `over_18` or `is_self`; URLs carry HTML-escaped `&amp;`. Parsing never
raises on a bad line: it returns the reason, which the pipeline counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Reasons a line is not a usable submission; each is a counter in the pipeline's stats.
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_ID = "missing_id"
BAD_CREATED_UTC = "bad_created_utc"
BAD_SCORE = "bad_score"
LINE_REASONS = (INVALID_JSON, NOT_AN_OBJECT, MISSING_ID, BAD_CREATED_UTC, BAD_SCORE)

EARLIEST = 1118880000  # 2005-06-16: Reddit went online; an earlier created_utc is a corrupt record
LATEST = 4102444800  # 2100-01-01
MAX_SCORE = 2**53  # beyond any real karma; keeps sums exact and within Parquet's int64


@dataclass(frozen=True)
class Submission:
    """The fields WebText needs from one submission."""

    id: str
    subreddit: str
    url: str
    score: int
    created_utc: int
    is_self: bool
    over_18: bool
    title: str = ""


def parse_submission(line: str | bytes) -> Submission | str:
    """A Submission, or the reason (one of LINE_REASONS) the line is not one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes ("[[[[...")
        return INVALID_JSON
    if not isinstance(record, dict):
        return NOT_AN_OBJECT
    submission_id = record.get("id")
    if not isinstance(submission_id, str) or not submission_id:
        return MISSING_ID
    created = _as_int(record.get("created_utc"))
    if created is None or not EARLIEST <= created < LATEST:
        return BAD_CREATED_UTC
    score = _as_int(record.get("score", record.get("ups")))
    if score is None or abs(score) > MAX_SCORE:
        return BAD_SCORE
    url = record.get("url")
    url = url.replace("&amp;", "&").strip() if isinstance(url, str) else ""
    subreddit = record.get("subreddit")
    subreddit = subreddit if isinstance(subreddit, str) else ""
    is_self = record.get("is_self")
    if not isinstance(is_self, bool):  # early dumps: a self post's domain is "self.<subreddit>"
        is_self = str(record.get("domain", "")).lower().startswith("self.")
    title = record.get("title")
    return Submission(
        id=submission_id,
        subreddit=subreddit,
        url=url,
        score=score,
        created_utc=created,
        is_self=is_self,
        over_18=record.get("over_18") is True,
        title=title if isinstance(title, str) else "",
    )


def _as_int(value) -> int | None:
    """int, float, or a numeric string ("1512345678", "1512345678.0") -> int; anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number == number and abs(number) != float("inf") else None
    return None
