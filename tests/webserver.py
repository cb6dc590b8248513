"""A local HTTP server with hostile routes, to test and benchmark the crawler without the network.

Each WebServer listens on its own 127.0.0.1 port (or ::1's, for IPv6 literals). The crawler's politeness and robots.txt key is host:port,
so several servers are several hosts to it. Every request is recorded (path, headers, and start and end
on the `time.monotonic()` clock) so that tests can check politeness from the server's side.

    with WebServer({"/a": Response(body=b"<html>a</html>")}, latency=0.1) as server:
        fetcher.fetch(server.url("/a"))
        assert max_in_flight(server.requests) == 1
"""

from __future__ import annotations

import itertools
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HTML = ("Content-Type", "text/html; charset=utf-8")
GOOD_HTML = b"<!doctype html><html><head><title>Good</title></head><body><p>Hello, web.</p></body></html>"
DEFAULT_ROBOTS = "User-agent: *\nDisallow: /private/\n"
SLOW_SECONDS = 3.0
"""How long /slow waits before answering: past any read timeout a test uses."""
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00" + bytes(
    range(256)
)


@dataclass(frozen=True)
class Response:
    """What a route answers.

    A bytes body goes out with its Content-Length (unless `headers` set one) on a keep-alive connection. Any
    other iterable is streamed on a closing connection, one chunk every `interval` seconds, until it ends or
    the client hangs up; it is iterated once per request, so use one that can be (a list, itertools.repeat).
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = (HTML,)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0
    """Seconds to wait before the status line."""
    interval: float = 0.0
    reset: bool = False
    """Hang up with a TCP reset instead of answering."""
    header_interval: float = 0.0
    """When set, the status line and headers go out one byte every header_interval seconds (a tarpit)."""


Route = Response | Callable[[], Response]
"""A fixed answer, or a function called for each request (for answers that change)."""


@dataclass(frozen=True)
class Request:
    path: str
    host: str
    """The Host header."""
    started: float
    finished: float
    headers: tuple[tuple[str, str], ...]


def first_then(first: Response, then: Response) -> Callable[[], Response]:
    """A route that answers `first` once, then `then` for ever."""
    calls = itertools.count()
    return lambda: first if next(calls) == 0 else then


def max_in_flight(requests: Iterable[Request]) -> int:
    """The most requests that were being answered at once."""
    requests = list(requests)
    events = sorted([(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests])  # ends first
    return max(itertools.accumulate(change for _, change in events), default=0)


def min_start_gap(requests: Iterable[Request]) -> float:
    """The shortest time between two consecutive request starts (inf for fewer than two)."""
    starts = sorted(r.started for r in requests)
    return min((b - a for a, b in itertools.pairwise(starts)), default=float("inf"))


@cache
def gzip_bomb() -> bytes:
    """About 20 KB of gzip that inflates to 20 MB of spaces."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    block = b" " * 1_000_000
    return b"".join(compressor.compress(block) for _ in range(20)) + compressor.flush()


class WebServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (or `address`) with the hostile routes below, plus `routes` (which win).

    Built-in routes: / and /page.html (a good page), /private/page.html (disallowed by the default
    robots.txt), /slow (answers after SLOW_SECONDS), /drip (a byte every 0.1 s, for ever), /drip-headers
    (the headers a byte every 0.1 s, for 30 s), /endless (streams for ever), /huge (Content-Length 100 MB), /gzip-bomb, /redirect-loop, /chain/N (N redirects, relative
    then absolute, ending at /page.html), /redirect-nowhere (no Location), /redirect-ftp, /403, /404, /410,
    /500, /503, /429 (Retry-After: 3600), /429-once (Retry-After: 1, then the good page), /reset, /cp1252
    (says utf-8, is cp1252), /no-charset, /no-type (HTML without Content-Type), /no-type-text,
    /image.html (PNG bytes as text/html), /report.pdf, and /robots.txt (`robots`, answered with
    `robots_status`; None answers 404). `latency` is added before every answer.
    """

    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        robots: str | None = DEFAULT_ROBOTS,
        robots_status: int = 200,
        latency: float = 0.0,
        address: str = "127.0.0.1",
    ):
        self.latency = latency
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._answering = 0
        self._requests: list[Request] = []
        self._server = (_Server6 if ":" in address else _Server)((address, 0), _Handler)
        self._server.web = self
        self.port = self._server.server_address[1]
        self._address = f"[{address}]" if ":" in address else address
        self.routes: dict[str, Route] = {**self._builtin_routes(robots, robots_status), **(routes or {})}
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def host(self) -> str:
        return f"{self._address}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}{path}"

    @property
    def requests(self) -> list[Request]:
        """Every request answered so far, in the order they finished.

        A request is recorded just after its answer is sent, which can be just after the client has read
        it: read this once the server has stopped, which waits for the requests in progress.
        """
        with self._changed:
            return list(self._requests)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts every wait and stream short
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with self._changed:
            self._changed.wait_for(lambda: not self._answering, timeout=_Handler.timeout)

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _builtin_routes(self, robots: str | None, robots_status: int) -> dict[str, Route]:
        page = Response(body=GOOD_HTML)
        forever = itertools.repeat(b"<p>" + b"x" * 65_530 + b"</p>")
        routes: dict[str, Route] = {
            "/": page,
            "/page.html": page,
            "/private/page.html": page,
            "/slow": Response(body=GOOD_HTML, delay=SLOW_SECONDS),
            "/drip": Response(body=itertools.repeat(b"x"), interval=0.1),
            "/drip-headers": Response(headers=(HTML, ("X-Padding", "x" * 300)), header_interval=0.1),
            "/endless": Response(body=forever),
            "/huge": Response(headers=(HTML, ("Content-Length", "100000000")), body=forever),
            "/gzip-bomb": Response(headers=(HTML, ("Content-Encoding", "gzip")), body=gzip_bomb()),
            "/redirect-loop": Response(302, (("Location", "/redirect-loop"),)),
            "/chain/0": Response(302, (("Location", self.url("/page.html")),)),
            "/redirect-nowhere": Response(302, ()),
            "/redirect-ftp": Response(302, (("Location", "ftp://127.0.0.1/file"),)),
            "/403": Response(403, body=b"forbidden"),
            "/404": Response(404, body=b"not found"),
            "/410": Response(410, body=b"gone"),
            "/500": Response(500, body=b"oops"),
            "/503": Response(503, body=b"unavailable"),
            "/429": Response(429, (("Retry-After", "3600"),)),
            "/429-once": first_then(Response(429, (("Retry-After", "1"),)), page),
            "/reset": Response(reset=True),
            "/cp1252": Response(body="<html><body>café – naïve “quotes”</body></html>".encode("cp1252")),
            "/no-charset": Response(headers=(("Content-Type", "text/html"),), body=GOOD_HTML),
            "/no-type": Response(headers=(), body=GOOD_HTML),
            "/no-type-text": Response(headers=(), body=b"just some words, no markup"),
            "/image.html": Response(body=PNG),
            "/report.pdf": Response(
                headers=(("Content-Type", "application/pdf"),), body=b"%PDF-1.4\n%\xe2\xe3"
            ),
            "/robots.txt": (
                Response(404, body=b"no robots")
                if robots is None
                else Response(robots_status, (("Content-Type", "text/plain"),), robots.encode())
            ),
        }
        for n in range(1, 10):  # relative Locations ("2" from /chain/3), every redirect status in turn
            routes[f"/chain/{n}"] = Response((301, 302, 303, 307, 308)[n % 5], (("Location", str(n - 1)),))
        return routes

    def _answer(self, handler: _Handler) -> None:
        route = self.routes.get(urlsplit(handler.path).path, Response(404, body=b"no such route"))
        response = route() if callable(route) else route
        if self._stopping.wait(self.latency + response.delay):
            handler.close_connection = True
            return
        if response.reset:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            return
        if response.header_interval:
            handler.close_connection = True
            head = f"HTTP/1.1 {response.status} Slowly\r\n" + "".join(
                f"{n}: {v}\r\n" for n, v in response.headers
            )
            for byte in (head + "\r\n").encode():
                handler.wfile.write(bytes([byte]))
                if self._stopping.wait(response.header_interval):
                    return
            return
        handler.send_response(response.status)
        for name, value in response.headers:
            handler.send_header(name, value)
        if isinstance(response.body, bytes):
            if not any(name.lower() == "content-length" for name, _ in response.headers):
                handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            handler.wfile.write(response.body)
            return
        handler.send_header("Connection", "close")
        handler.close_connection = True
        handler.end_headers()
        for chunk in response.body:
            handler.wfile.write(chunk)
            if self._stopping.wait(response.interval):
                return

    def _begin(self) -> None:
        with self._changed:
            self._answering += 1

    def _record(self, request: Request) -> None:
        with self._changed:
            self._answering -= 1
            self._requests.append(request)
            self._changed.notify_all()


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # bursts of connections from many crawler threads
    web: WebServer

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up on hostile routes is the point, not an error."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # idle keep-alive connections end, and so do their threads
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def do_GET(self) -> None:
        started = time.monotonic()
        self.server.web._begin()
        try:
            self.server.web._answer(self)
        except OSError:  # the client hung up (or stopped reading)
            self.close_connection = True
        finally:
            finished = time.monotonic()
            headers = tuple(self.headers.items())
            self.server.web._record(
                Request(self.path, self.headers.get("Host", ""), started, finished, headers)
            )

    def log_message(self, format: str, *args) -> None:
        """Quiet: tests read WebServer.requests instead."""
