"""Politeness per host: the scope a URL's requests are counted in (host:port), and the gate that keeps a
process's requests to each host few and spaced out, however many threads fetch.

Politeness and robots.txt are keyed by host:port (the port only when it is not the scheme's default), which
is robots.txt's own scope and what lets several local servers on one machine stand for several hosts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """The parts of an http(s) URL that fetching needs."""

    scheme: str
    hostname: str
    port: int
    key: str
    """host[:port] (the port only when not the scheme's default), the politeness and robots scope."""
    path: str
    """Path and query, as robots.txt rules see them."""

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.key}"


def url_target(url: str) -> Target | None:
    """The parts of `url` that fetching needs; None when it is not an http(s) URL with a usable host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, hostname = parts.scheme.lower(), parts.hostname or ""
    if scheme not in _DEFAULT_PORTS or not hostname or not hostname.isprintable() or " " in hostname:
        return None
    default = _DEFAULT_PORTS[scheme]
    host = f"[{hostname}]" if ":" in hostname else hostname
    key = host if port in (None, default) else f"{host}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, hostname, port or default, key, path)


def host_key(url: str) -> str:
    """The politeness key of `url` (host, or host:port when not the default port) to group URLs by.

    "" when the URL has no usable host; fetching it reports invalid_url.
    """
    target = url_target(url)
    return target.key if target else ""


class HostPaused(TimeoutError):
    """The host is paused past the time a request may wait for it."""


class HostGate:
    """Per-process politeness: at most `concurrency` requests in flight to a host, and each starts `delay` s
    after the previous one to that host started *and ended* (as Nutch counts it): a slow server gets the
    full pause, and a server sees requests at least `delay` apart even when connecting takes time. A host
    that answered 429 or 5xx is paused as a whole (`pause`), not only the URL that got the answer.

    Share one gate among every thread (and every Fetcher) of a process so that the limits hold for the
    process as a whole.
    """

    def __init__(self, concurrency: int = 1):
        self.concurrency = concurrency
        self._changed = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._last_used: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._longest_delay = 0.0
        self._prune_at = 1024

    @contextmanager
    def slot(self, host: str, delay: float, timeout: float | None = None) -> Iterator[None]:
        """Hold one of `host`'s slots for one request; TimeoutError when none frees up within `timeout` s,
        HostPaused at once when the host's pause outlasts it."""
        give_up = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                now = time.monotonic()
                paused_until = self._paused_until.get(host, -math.inf)
                if give_up is not None and paused_until > give_up:
                    raise HostPaused(
                        f"{host} is paused for {paused_until - now:.1f} s, longer than {timeout} s"
                    )
                wait = max(self._last_used.get(host, -math.inf) + delay, paused_until) - now
                if self._in_flight.get(host, 0) < self.concurrency:
                    if wait <= 0:
                        break
                else:
                    wait = None  # until a slot is given back
                if give_up is not None:
                    if give_up <= now:
                        raise TimeoutError(f"no slot for {host} within {timeout} s")
                    wait = give_up - now if wait is None else min(wait, give_up - now)
                self._changed.wait(wait)
            self._in_flight[host] = self._in_flight.get(host, 0) + 1
            self._last_used[host] = now
            self._longest_delay = max(self._longest_delay, delay)
        try:
            yield
        finally:
            with self._changed:
                self._last_used[host] = time.monotonic()  # the pause runs from the end
                self._in_flight[host] -= 1
                if not self._in_flight[host]:
                    del self._in_flight[host]
                    self._forget_stale()
                self._changed.notify_all()

    def pause(self, host: str, seconds: float) -> None:
        """Start none of host's requests in the next `seconds` (a 429's Retry-After, a 5xx's backoff)."""
        with self._changed:
            until = time.monotonic() + seconds
            self._paused_until[host] = max(self._paused_until.get(host, until), until)

    def _forget_stale(self) -> None:
        """Drop times too old to delay anyone, so that a long crawl of many hosts stays small."""
        if len(self._last_used) < self._prune_at:
            return
        now = time.monotonic()
        self._paused_until = {host: until for host, until in self._paused_until.items() if until > now}
        cutoff = now - self._longest_delay
        self._last_used = {
            host: start
            for host, start in self._last_used.items()
            if start > cutoff or host in self._in_flight
        }
        self._prune_at = max(1024, 2 * len(self._last_used))
