"""robots.txt as RFC 9309 reads it: which of a host's paths we may fetch, and how long to wait between them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import quote

ROBOTS_MAX_BYTES = 500 * 1024
"""RFC 9309 asks crawlers to parse at least the first 500 KiB of a robots.txt; we parse exactly that."""


@dataclass(frozen=True)
class Robots:
    """The robots.txt rules that apply to us on one host (RFC 9309); the default allows everything."""

    rules: tuple[tuple[int, bool, re.Pattern[str]], ...] = ()
    """(pattern length, allow, pattern as a regex) for every allow and disallow line of our groups."""
    crawl_delay: float | None = None

    def allows(self, path: str) -> bool:
        """The longest matching rule decides, and allow wins a tie (RFC 9309 2.2.2); no match allows."""
        best = (-1, True)
        for length, allow, pattern in self.rules:
            if (length, allow) > best and pattern.match(path):
                best = (length, allow)
        return best[1]


def parse_robots(text: str, product: str) -> Robots:
    """The groups naming `product` (case-insensitive) combined, or else the "*" groups (RFC 9309 2.2.1).

    Written instead of urllib.robotparser, which ignores the `*` and `$` wildcards and lets the first
    matching rule win rather than the longest.
    """
    groups: list[tuple[list[str], list[tuple[str, str]]]] = []
    in_rules = True
    for line in text.splitlines():
        key, colon, value = line.split("#", 1)[0].partition(":")
        key, value = key.strip().lower(), value.strip()
        if not colon:
            continue
        if key == "user-agent":
            if in_rules:  # a user-agent line after rules starts the next group
                groups.append(([], []))
                in_rules = False
            groups[-1][0].append(value.split("/", 1)[0].strip().lower())
        elif key in ("allow", "disallow", "crawl-delay") and groups:
            groups[-1][1].append((key, value))
            in_rules = True
    product = product.lower()
    chosen = [lines for agents, lines in groups if product in agents]
    chosen = chosen or [lines for agents, lines in groups if "*" in agents]
    rules, crawl_delay = [], None
    for key, value in (line for lines in chosen for line in lines):
        if key == "crawl-delay":
            crawl_delay = _seconds(value) if crawl_delay is None else crawl_delay
        elif value:  # an empty Disallow allows everything: no rule
            rules.append((len(value), key == "allow", _rule_pattern(value)))
    return Robots(tuple(rules), crawl_delay)


def _rule_pattern(rule: str) -> re.Pattern[str]:
    """`*` matches any run of characters and a final `$` ends the match; non-ASCII is percent-encoded."""
    rule = quote(rule, safe="/?=&;:@!$'()*+,-._~%")
    anchored = rule.endswith("$")
    body = ".*".join(re.escape(part) for part in (rule[:-1] if anchored else rule).split("*"))
    return re.compile(body + (r"\Z" if anchored else ""))


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < math.inf else None
