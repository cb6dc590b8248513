"""Fetching one URL live, for the Beam Fetch step: `Fetcher` fetches it politely (robots.txt, a per-host gate)
and defensively (address checks, timeouts, a deadline, a byte cap, HTML only), returning a Page or the reason
there is none; `FetchConfig` says how.
"""

from __future__ import annotations

import datetime
import email.utils
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TypeVar
from urllib.parse import urljoin

import urllib3
from urllib3.response import BaseHTTPResponse

from webtext.deadline import Deadline
from webtext.hosts import HostGate, HostPaused, url_target
from webtext.page import (
    BAD_REDIRECT,
    CONNECTION_ERROR,
    CONNECTION_RESET,
    DEADLINE,
    DNS_ERROR,
    HOST_PAUSED,
    HTML_TYPES,
    HTTP_CLIENT_ERROR,
    HTTP_NOT_FOUND,
    HTTP_RATE_LIMITED,
    HTTP_SERVER_ERROR,
    INVALID_URL,
    NOT_HTML,
    ROBOTS_DENIED,
    ROBOTS_UNAVAILABLE,
    TIMEOUT,
    TLS_ERROR,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    Page,
    page_rejection,
    status_reason,
)
from webtext.robots import ROBOTS_MAX_BYTES, Robots, parse_robots
from webtext.transport import address_reason, error_reason, header_deadline, pool_manager

_RETRYABLE = frozenset({HTTP_RATE_LIMITED, HTTP_SERVER_ERROR, CONNECTION_RESET})
_UNREACHABLE = frozenset({DNS_ERROR, CONNECTION_ERROR, CONNECTION_RESET, TLS_ERROR, TIMEOUT, DEADLINE})
"""Reasons robots.txt could not be fetched that say the host itself is unreachable."""
_CHUNK = 64 * 1024
_ROBOTS_CACHE_SIZE = 4096


@dataclass(frozen=True)
class FetchConfig:
    """How politely and how defensively to fetch; the defaults suit a research crawler."""

    user_agent: str = "webtext/0.1 (WebText rebuild; +https://github.com/webtext/webtext)"
    """Its product token (before the "/") is the name robots.txt groups are matched against."""
    connect_timeout: float = 10.0
    """Seconds to open a connection."""
    read_timeout: float = 20.0
    """Seconds a response may stall between bytes."""
    deadline: float = 60.0
    """Total seconds per URL: redirects, retries, backoff and politeness waits included (a host's robots.txt,
    fetched once for all its URLs, has a deadline of its own)."""
    max_bytes: int = 5_000_000
    """Cap on the decoded body, so that endless bodies and compression bombs stop early."""
    max_redirects: int = 5
    """Redirects followed per URL; more: too_many_redirects."""
    retries: int = 2
    """Extra attempts after a 429, a 5xx or a connection reset."""
    backoff: float = 1.0
    """Seconds before the first retry, doubled for each next one; a Retry-After in seconds wins."""
    allow_private: bool = False
    """Allow loopback and private addresses (local test servers); off, so no URL can reach internal services."""
    respect_robots: bool = True
    """Obey robots.txt (fetched once per host)."""
    host_delay: float = 1.0
    """Seconds of pause after a request to a host ends before the next one starts."""
    host_concurrency: int = 1
    """Requests to one host at a time."""
    max_crawl_delay: float = 10.0
    """A robots.txt Crawl-delay raises the host's delay up to this, so one host cannot stall a worker for long."""
    threads: int = field(default=32, metadata={"flag": "fetch-threads"})
    """Requests in flight per pipeline worker (one per host its bundle holds, at most)."""
    max_urls_per_host: int = 0
    """Fetch at most this many URLs of one host (the best-voted; the rest: host_url_cap); 0: all."""
    save_warc: bool = False
    """Write what a live crawl fetched to OUT/warc/*.warc.gz, to replay it later with --warc."""

    @property
    def product(self) -> str:
        """Our user-agent product token, lowercase."""
        return self.user_agent.split("/", 1)[0].strip().lower()


T = TypeVar("T")


class _Entry:
    def __init__(self) -> None:
        self.loaded = threading.Event()
        self.value: object = ROBOTS_UNAVAILABLE
        """What was loaded, or (if loading raised) the reason nothing on the host may be fetched."""


class _LoadOnce:
    """Per-host answers (robots.txt, the address check) loaded once however many threads ask at once;
    the least recently used are forgotten. A dead host's DNS timeout is paid once, not once a URL."""

    def __init__(self, size: int = _ROBOTS_CACHE_SIZE):
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, key: str, load: Callable[[], T]) -> T:
        with self._lock:
            entry = self._entries.get(key)
            loading = entry is None
            if entry is None:
                entry = self._entries[key] = _Entry()
                if len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if loading:
            try:
                entry.value = load()
            finally:
                entry.loaded.set()  # even if load raised: waiters then see robots_unavailable
        entry.loaded.wait()
        return entry.value


class Fetcher:
    """Fetches HTML pages politely and defensively; one per process, `fetch` called from many threads."""

    def __init__(self, config: FetchConfig | None = None, gate: HostGate | None = None):
        self.config = config or FetchConfig()
        self.gate = gate or HostGate(self.config.host_concurrency)
        self._robots = _LoadOnce()
        self._addresses = _LoadOnce()
        self._pool = pool_manager(self.config.host_concurrency)
        self._headers = {
            "User-Agent": self.config.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
            "Accept-Encoding": "gzip, deflate",
        }

    def fetch(self, url: str) -> Page | str:
        """The page at `url` (a 2xx HTML answer, after redirects), or the reason (one of FETCH_REASONS)."""
        response = self._follow(url, Deadline(self.config.deadline), page=True)
        if isinstance(response, str):
            return response
        return page_rejection(response) or replace(response, url=url)

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _follow(self, url: str, deadline: Deadline, page: bool) -> Page | str:
        """Follow redirects by hand so that every hop gets the scheme, address, robots and hop-count checks.

        `page` is False for robots.txt itself, which is neither checked against robots nor HTML-only.
        """
        for hop in range(self.config.max_redirects + 1):
            target = url_target(url)
            if target is None:
                return INVALID_URL if hop == 0 else BAD_REDIRECT
            if not self.config.allow_private:
                refused = self._addresses.get(target.key, partial(address_reason, target))
                if refused:
                    return refused
            delay = self.config.host_delay
            if page and self.config.respect_robots:
                robots = self._robots.get(target.origin, partial(self._load_robots, target.origin))
                if isinstance(robots, str):
                    return robots
                if not robots.allows(target.path):
                    return ROBOTS_DENIED
                if robots.crawl_delay is not None:
                    delay = max(delay, min(robots.crawl_delay, self.config.max_crawl_delay))
            response = self._retrying(url, target.key, delay, deadline, page)
            if isinstance(response, str) or not 300 <= response.status < 400:
                return response
            location = response.header("location")
            if not location:
                return BAD_REDIRECT
            url = urljoin(url, location.strip())
        return TOO_MANY_REDIRECTS

    def _load_robots(self, origin: str) -> Robots | str:
        """RFC 9309 2.3.1: a 4xx (or a redirect maze) allows everything; 5xx, 429 or no answer allow nothing.

        When the host cannot be reached at all, the network reason stands for all its URLs (a dead host
        counts as dead, not as robots_unavailable, and costs one timeout rather than one a URL). It gets a
        deadline of its own: the URL that happens to trigger it may have little time left, and the answer
        is kept for the whole host.
        """
        response = self._follow(f"{origin}/robots.txt", Deadline(self.config.deadline), page=False)
        if isinstance(response, Page):
            text = response.body[:ROBOTS_MAX_BYTES].decode("utf-8-sig", errors="replace")
            return parse_robots(text, self.config.product)
        if response in (HTTP_NOT_FOUND, HTTP_CLIENT_ERROR, TOO_MANY_REDIRECTS):
            return Robots()
        return response if response in _UNREACHABLE else ROBOTS_UNAVAILABLE

    def _retrying(self, url: str, key: str, delay: float, deadline: Deadline, page: bool) -> Page | str:
        """One hop, retried with exponential backoff after a 429, a 5xx or a reset, while the deadline allows."""
        attempt = 0
        while True:
            response = self._exchange(url, key, delay, deadline, page)
            reason = response if isinstance(response, str) else status_reason(response.status)
            if reason is None:
                return response
            if reason not in _RETRYABLE:
                return reason
            wait = self.config.backoff * 2**attempt
            if isinstance(response, Page):  # the server asked for a break: all its URLs take it
                wait = _retry_after(response) or wait
                self.gate.pause(key, wait)
            if attempt >= self.config.retries or wait >= deadline.remaining():
                return reason
            if not isinstance(response, Page):  # a broken connection: this URL backs off alone
                time.sleep(wait)
            attempt += 1

    def _exchange(self, url: str, key: str, delay: float, deadline: Deadline, page: bool) -> Page | str:
        """One request through the host gate; the body is read only for a 2xx answer."""
        try:
            with self.gate.slot(key, delay, timeout=max(deadline.remaining(), 0.0)):
                remaining = deadline.remaining()
                if remaining <= 0:
                    return DEADLINE
                timeout = urllib3.Timeout(
                    connect=min(self.config.connect_timeout, remaining),
                    read=min(self.config.read_timeout, remaining),
                )
                with header_deadline(deadline.end):
                    response = self._pool.urlopen(
                        "GET", url, headers=self._headers, timeout=timeout, retries=False, redirect=False,
                        preload_content=False,
                    )  # fmt: skip
                try:
                    return self._receive(response, url, deadline, page)
                finally:
                    if not response.closed:
                        response.close()  # the body was left unread: the connection cannot be reused
                    response.release_conn()
        except HostPaused:
            return HOST_PAUSED
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return error_reason(error, deadline)

    def _receive(self, response: BaseHTTPResponse, url: str, deadline: Deadline, page: bool) -> Page | str:
        answer = Page(
            url=url, final_url=url, status=response.status, headers=tuple(response.headers.iteritems()),
            body=b"", fetched_at=time.time(),
        )  # fmt: skip
        if not 200 <= answer.status < 300:
            return answer
        if page and answer.content_type and answer.content_type not in HTML_TYPES:
            return NOT_HTML
        if (response.length_remaining or 0) > self.config.max_bytes:
            return TOO_LARGE
        body = self._read(response, deadline)
        if isinstance(body, str):
            return body
        return replace(answer, body=body, fetched_at=time.time())

    def _read(self, response: BaseHTTPResponse, deadline: Deadline) -> bytes | str:
        """The decoded body, a chunk at a time, so that the byte cap and the deadline hold against endless,
        dripping or compression-bomb bodies."""
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                return DEADLINE
            sock = getattr(response.connection, "sock", None)
            if sock is not None:  # no single wait may outlast the deadline
                sock.settimeout(min(self.config.read_timeout, remaining))
            chunk = response.read1(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.config.max_bytes:
                return TOO_LARGE
            chunks.append(chunk)


def _retry_after(response: Page) -> float | None:
    """Retry-After's seconds, given as seconds or as an HTTP date (RFC 9110 10.2.3); None when absent or bad.

    Seconds are ASCII digits only: str.isdigit alone also takes "²" or "١", which float() then rejects.
    """
    value = (response.header("retry-after") or "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a day or year past what C ints hold
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - time.time())
