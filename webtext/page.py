"""What fetching gives, whichever way a page came (live HTTP, WARC replay): a `Page`, or the reason there is
none, so that the pipeline counts what live fetching and replay lose in the same terms.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


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

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SNIFF_BYTES = 1024
_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def page_rejection(page: Page) -> str | None:
    """Why a response is not an HTML document to extract, or None; live fetching and WARC replay share it.

    A 3xx is a reason only for a stored response (replay does not follow redirects); a body with NUL bytes
    is binary under an HTML name, an untyped body must look like HTML.
    """
    if not 200 <= page.status < 300:
        return status_reason(page.status) or HTTP_REDIRECT
    head = _sniffed_head(page.body)
    if page.content_type and page.content_type not in HTML_TYPES:
        return NOT_HTML
    if b"\0" in head or not (page.content_type or _looks_like_html(head)):
        return NOT_HTML
    return None


def status_reason(status: int) -> str | None:
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


def _sniffed_head(body: bytes) -> bytes:
    """The body's first bytes as the sniff reads them: UTF-16 with a BOM (which decides a page's encoding
    before any header, as in browsers) transcoded to UTF-8, so that the zero bytes of its ASCII letters are
    not taken for a binary file's NULs, while a NUL character still is one."""
    for bom, codec in _UTF16_BOMS:
        if body.startswith(bom):
            return body[len(bom) : _SNIFF_BYTES].decode(codec, "replace").encode("utf-8")
    return body[:_SNIFF_BYTES]


def _looks_like_html(head: bytes) -> bool:
    head = head.lower()
    return b"<!doctype html" in head or b"<html" in head
