"""Fetching pages: the one type every fetch path (live HTTP, WARC replay) produces, and the live crawler.

The crawler is plain Python for the Beam Fetch step: `Fetcher` fetches one URL politely (robots.txt, a
per-host gate) and defensively (address checks, timeouts, a deadline, a byte cap, HTML only), returning a
Page or the reason there is none; `Crawler` runs many hosts' URLs at once on threads for one DoFn.
"""

from __future__ import annotations

import datetime
import email.utils
import heapq
import ipaddress
import itertools
import logging
import math
import queue
import re
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Generic, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import urllib3
import urllib3.connection
from urllib3.response import BaseHTTPResponse


@dataclass(frozen=True)
class Page:
    """One HTTP response, fetched live or replayed from a WARC file."""

    url: str
    """The URL that was asked for (the canonical URL from DedupURLs)."""
    final_url: str
    """Where it was answered, after redirects."""
    status: int
    headers: tuple[tuple[str, str], ...]
    """Response headers, in order, names as sent."""
    body: bytes
    """The payload, with transfer and content encodings removed."""
    fetched_at: float
    """Unix time the response arrived."""

    def header(self, name: str) -> str | None:
        """The first header called `name` (any case), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    @property
    def content_type(self) -> str:
        """The media type, lowercase, without parameters ("" if absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, lowercase, or None."""
        for parameter in (self.header("content-type") or "").split(";")[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "charset" and value.strip().strip("\"'"):
                return value.strip().strip("\"'").lower()
        return None


# --- Live fetching -------------------------------------------------------------------------------------------
#
# Politeness and robots.txt are keyed by host:port (the port only when it is not the scheme's default), which
# is robots.txt's own scope and what lets several local servers on one machine stand for several hosts.

_log = logging.getLogger(__name__)

# Reasons a URL gives no page; each is a counter in the pipeline's stats.
INVALID_URL = "invalid_url"  # not an http(s) URL with a host
PRIVATE_ADDRESS = "private_address"  # the host resolves to a loopback, private or other non-public address
DNS_ERROR = "dns_error"
ROBOTS_DENIED = "robots_denied"
ROBOTS_UNAVAILABLE = "robots_unavailable"  # robots.txt answered 5xx, 429 or unusably: all disallowed
CONNECTION_ERROR = "connection_error"  # could not connect (refused, unreachable)
CONNECTION_RESET = "connection_reset"  # the connection broke (or the answer was garbled) mid-exchange
TLS_ERROR = "tls_error"
TIMEOUT = "timeout"  # connecting, or waiting for bytes, took longer than its timeout
DEADLINE = "deadline"  # the URL's total time ran out (a dripping server, long retries)
TOO_LARGE = "too_large"  # the decoded body is over the byte cap
DECODE_ERROR = "decode_error"  # the Content-Encoding could not be undone
NOT_HTML = "not_html"
BAD_REDIRECT = "bad_redirect"  # a 3xx without a Location, or to somewhere that is not an http(s) URL
TOO_MANY_REDIRECTS = "too_many_redirects"
HTTP_REDIRECT = "http_redirect"  # a stored 3xx answer (WARC replay does not follow redirects)
HTTP_NOT_FOUND = "http_not_found"  # 404 or 410
HTTP_RATE_LIMITED = "http_rate_limited"  # 429, still after the retries
HOST_PAUSED = "host_paused"  # the host asked for a pause (429/5xx, Retry-After) outlasting the URL's deadline
HTTP_CLIENT_ERROR = "http_client_error"  # any other 4xx
HTTP_SERVER_ERROR = "http_server_error"  # 5xx (or a status no server should send), still after the retries
FETCH_ERROR = "fetch_error"  # an unexpected exception (a bug): logged, counted, never fatal
FETCH_REASONS = (
    INVALID_URL, PRIVATE_ADDRESS, DNS_ERROR, ROBOTS_DENIED, ROBOTS_UNAVAILABLE, CONNECTION_ERROR,
    CONNECTION_RESET, TLS_ERROR, TIMEOUT, DEADLINE, TOO_LARGE, DECODE_ERROR, NOT_HTML, BAD_REDIRECT,
    TOO_MANY_REDIRECTS, HTTP_REDIRECT, HTTP_NOT_FOUND, HTTP_RATE_LIMITED, HOST_PAUSED, HTTP_CLIENT_ERROR,
    HTTP_SERVER_ERROR, FETCH_ERROR,
)  # fmt: skip

_RETRYABLE = frozenset({HTTP_RATE_LIMITED, HTTP_SERVER_ERROR, CONNECTION_RESET})
_UNREACHABLE = frozenset({DNS_ERROR, CONNECTION_ERROR, CONNECTION_RESET, TLS_ERROR, TIMEOUT, DEADLINE})
"""Reasons robots.txt could not be fetched that say the host itself is unreachable."""
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024
_SNIFF_BYTES = 1024
ROBOTS_MAX_BYTES = 500 * 1024
"""RFC 9309 asks crawlers to parse at least the first 500 KiB of a robots.txt; we parse exactly that."""
_ROBOTS_CACHE_SIZE = 4096
_POOLS = 128


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


@dataclass(frozen=True)
class _Target:
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


def _target(url: str) -> _Target | None:
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
    return _Target(scheme, hostname, port or default, key, path)


def host_key(url: str) -> str:
    """The politeness key of `url` (host, or host:port when not the default port) to group URLs by.

    "" when the URL has no usable host; fetching it reports invalid_url.
    """
    target = _target(url)
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


class _Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


class _HeaderWatch:
    """One thread that cuts the connection of an answer whose headers are still arriving at its URL's
    deadline. A socket timeout bounds each read, not their sum, so a server trickling its headers a byte at
    a time could hold a crawler thread for hours; bodies are read in chunks against the deadline already."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int]] = []  # (end, ticket), a heap; answered tickets leave lazily
        self._watched: dict[int, socket.socket] = {}  # the tickets still waiting for their headers
        self._tickets = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, sock: socket.socket, end: float) -> Iterator[None]:
        with self._changed:
            ticket = next(self._tickets)
            self._watched[ticket] = sock
            heapq.heappush(self._due, (end, ticket))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="header-watch", daemon=True)
                self._thread.start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._watched.pop(ticket, None)

    def _run(self) -> None:
        with self._changed:
            while True:
                while self._due and self._due[0][1] not in self._watched:
                    heapq.heappop(self._due)
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._changed.wait(wait)
                    continue
                sock = self._watched.pop(heapq.heappop(self._due)[1])
                with suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns, and the exchange fails


_HEADER_WATCH = _HeaderWatch()
_header_deadline = threading.local()  # .end: when the current thread's exchange must be over


class _WatchedHeaders:
    """A connection whose answer's headers must be in by the deadline its thread set."""

    def getresponse(self):
        end = getattr(_header_deadline, "end", None)
        if end is None:
            return super().getresponse()
        with _HEADER_WATCH.watching(self.sock, end):
            return super().getresponse()


class _HTTPConnection(_WatchedHeaders, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedHeaders, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class Fetcher:
    """Fetches HTML pages politely and defensively; one per process, `fetch` called from many threads."""

    def __init__(self, config: FetchConfig | None = None, gate: HostGate | None = None):
        self.config = config or FetchConfig()
        self.gate = gate or HostGate(self.config.host_concurrency)
        self._robots = _LoadOnce()
        self._addresses = _LoadOnce()
        self._pool = urllib3.PoolManager(num_pools=_POOLS, maxsize=self.config.host_concurrency)
        self._pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self._headers = {
            "User-Agent": self.config.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
            "Accept-Encoding": "gzip, deflate",
        }

    def fetch(self, url: str) -> Page | str:
        """The page at `url` (a 2xx HTML answer, after redirects), or the reason (one of FETCH_REASONS)."""
        response = self._follow(url, _Deadline(self.config.deadline), page=True)
        if isinstance(response, str):
            return response
        return page_rejection(response) or replace(response, url=url)

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _follow(self, url: str, deadline: _Deadline, page: bool) -> Page | str:
        """Follow redirects by hand so that every hop gets the scheme, address, robots and hop-count checks.

        `page` is False for robots.txt itself, which is neither checked against robots nor HTML-only.
        """
        for hop in range(self.config.max_redirects + 1):
            target = _target(url)
            if target is None:
                return INVALID_URL if hop == 0 else BAD_REDIRECT
            if not self.config.allow_private:
                refused = self._addresses.get(target.key, partial(_address_reason, target))
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
        response = self._follow(f"{origin}/robots.txt", _Deadline(self.config.deadline), page=False)
        if isinstance(response, Page):
            text = response.body[:ROBOTS_MAX_BYTES].decode("utf-8-sig", errors="replace")
            return parse_robots(text, self.config.product)
        if response in (HTTP_NOT_FOUND, HTTP_CLIENT_ERROR, TOO_MANY_REDIRECTS):
            return Robots()
        return response if response in _UNREACHABLE else ROBOTS_UNAVAILABLE

    def _retrying(self, url: str, key: str, delay: float, deadline: _Deadline, page: bool) -> Page | str:
        """One hop, retried with exponential backoff after a 429, a 5xx or a reset, while the deadline allows."""
        attempt = 0
        while True:
            response = self._exchange(url, key, delay, deadline, page)
            reason = response if isinstance(response, str) else _status_reason(response.status)
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

    def _exchange(self, url: str, key: str, delay: float, deadline: _Deadline, page: bool) -> Page | str:
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
                _header_deadline.end = deadline.end
                try:
                    response = self._pool.urlopen(
                        "GET", url, headers=self._headers, timeout=timeout, retries=False, redirect=False,
                        preload_content=False,
                    )  # fmt: skip
                finally:
                    _header_deadline.end = None
                try:
                    return self._receive(response, url, deadline, page)
                finally:
                    if not response.closed:
                        response.close()  # the body was left unread: the connection cannot be reused
                    response.release_conn()
        except HostPaused:
            return HOST_PAUSED
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return _error_reason(error, deadline)

    def _receive(self, response: BaseHTTPResponse, url: str, deadline: _Deadline, page: bool) -> Page | str:
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

    def _read(self, response: BaseHTTPResponse, deadline: _Deadline) -> bytes | str:
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


def page_rejection(page: Page) -> str | None:
    """Why a response is not an HTML document to extract, or None; live fetching and WARC replay share it.

    A 3xx is a reason only for a stored response (replay does not follow redirects); a body with NUL bytes
    is binary under an HTML name, an untyped body must look like HTML.
    """
    if not 200 <= page.status < 300:
        return _status_reason(page.status) or HTTP_REDIRECT
    head = page.body[:_SNIFF_BYTES]
    if page.content_type and page.content_type not in HTML_TYPES:
        return NOT_HTML
    if b"\0" in head or not (page.content_type or _looks_like_html(head)):
        return NOT_HTML
    return None


def _address_reason(target: _Target) -> str | None:
    """Refuse hosts that resolve to any non-public address (a URL must not reach internal services).

    urllib3 resolves again when it connects, so a host that changes its answer in between could still get
    through; resolving once and connecting to that address would close that gap at the cost of TLS plumbing.
    """
    try:
        infos = socket.getaddrinfo(target.hostname, target.port, type=socket.SOCK_STREAM)
    except UnicodeError:  # the name cannot even be IDNA-encoded
        return INVALID_URL
    except OSError:
        return DNS_ERROR
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(map(_is_public, addresses)):
        return PRIVATE_ADDRESS
    return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Not loopback, private, link-local, multicast, reserved, unspecified or shared (CGNAT) space."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _status_reason(status: int) -> str | None:
    """None for a 2xx or 3xx, else the reason the status stands for."""
    if 200 <= status < 400:
        return None
    if status in (404, 410):
        return HTTP_NOT_FOUND
    if status == 429:
        return HTTP_RATE_LIMITED
    if 400 <= status < 500:
        return HTTP_CLIENT_ERROR
    return HTTP_SERVER_ERROR


def _retry_after(response: Page) -> float | None:
    """Retry-After's seconds, given as seconds or as an HTTP date (RFC 9110 10.2.3); None when absent or bad."""
    value = (response.header("retry-after") or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def _error_reason(error: Exception, deadline: _Deadline) -> str:
    if deadline.remaining() <= 0:  # whatever broke, the time was up (the header watch cuts connections)
        return DEADLINE
    if isinstance(error, urllib3.exceptions.NameResolutionError):
        return DNS_ERROR
    if isinstance(error, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError
        return CONNECTION_ERROR
    if isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError)):
        return TIMEOUT
    if isinstance(error, urllib3.exceptions.SSLError):
        return TLS_ERROR
    if isinstance(error, urllib3.exceptions.DecodeError):
        return DECODE_ERROR
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return CONNECTION_RESET
    if isinstance(error, urllib3.exceptions.LocationValueError):
        return INVALID_URL
    return CONNECTION_ERROR


def _looks_like_html(head: bytes) -> bool:
    head = head.lower()
    return b"<!doctype html" in head or b"<html" in head


# --- Many hosts at once ----------------------------------------------------------------------------------------

Result = tuple[str, T, Page | str]


@dataclass
class _HostWork(Generic[T]):
    items: deque[tuple[str, T]] = field(default_factory=deque)
    workers: int = 0
    """Threads working on (or queued to work on) this host, at most host_concurrency."""


class Crawler(Generic[T]):
    """Fetches many hosts' URLs at once on worker threads; results come back on the caller's thread.

    A host gets at most `host_concurrency` workers, which stay with it until its queue is empty, so a host's
    politeness waits hold up only its own workers, and one host submitted many times never takes over the
    pool. `submit` blocks while about 2 x threads hosts are queued or in progress, which bounds memory.
    `submit`, `ready` and `drain` are for one thread at a time (the DoFn's):

        process:       crawler.submit(host, items); yield from crawler.ready()
        finish_bundle: yield from crawler.drain()
    """

    def __init__(self, fetcher: Fetcher, threads: int = 32):
        self._fetcher = fetcher
        self._per_host = fetcher.gate.concurrency
        self._max_hosts = 2 * threads
        self._state = threading.Condition()
        self._hosts: dict[str, _HostWork[T]] = {}
        self._runnable: deque[str] = deque()
        """One entry per worker a host is owed."""
        self._closed = False
        self._results: queue.SimpleQueue[Result[T]] = queue.SimpleQueue()
        self._unyielded = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"crawler-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, host: str, items: Iterable[tuple[str, T]]) -> None:
        """Queue one host's (url, payload) items; more for a host already in hand join its queue."""
        items = list(items)
        if not items:
            return
        with self._state:
            if self._closed:
                raise RuntimeError("submit on a closed Crawler")
            while host not in self._hosts and len(self._hosts) >= self._max_hosts:
                self._state.wait()
            work = self._hosts.setdefault(host, _HostWork())
            work.items.extend(items)
            self._unyielded += len(items)
            while work.workers < min(self._per_host, len(work.items)):
                work.workers += 1
                self._runnable.append(host)
            self._state.notify_all()

    def ready(self) -> Iterator[Result[T]]:
        """The (url, payload, Page or reason) results finished so far, without waiting."""
        return self._take(block=False)

    def drain(self) -> Iterator[Result[T]]:
        """Every result still to come, as each finishes."""
        return self._take(block=True)

    def close(self) -> None:
        """Drop what has not started, and wait for the fetches in progress (each bounded by its deadline)."""
        with self._state:
            self._closed = True
            self._runnable.clear()
            self._unyielded = 0
            self._state.notify_all()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> Crawler[T]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _take(self, block: bool) -> Iterator[Result[T]]:
        while self._unyielded:
            try:
                result = self._results.get(block=block)
            except queue.Empty:
                return
            self._unyielded -= 1
            yield result

    def _work(self) -> None:
        while True:
            with self._state:
                while not self._runnable and not self._closed:
                    self._state.wait()
                if self._closed:
                    return
                host = self._runnable.popleft()
                work = self._hosts[host]
            self._work_on(host, work)

    def _work_on(self, host: str, work: _HostWork[T]) -> None:
        """Fetch `host`'s items until its queue is empty."""
        while True:
            with self._state:
                if self._closed:
                    return
                if not work.items:
                    work.workers -= 1
                    if not work.workers:
                        del self._hosts[host]
                        self._state.notify_all()  # a submit may be waiting for room
                    return
                url, payload = work.items.popleft()
            self._results.put((url, payload, self._fetch(url)))

    def _fetch(self, url: str) -> Page | str:
        try:
            return self._fetcher.fetch(url)
        except Exception:
            _log.exception("fetching %s failed unexpectedly", url)
            return FETCH_ERROR
