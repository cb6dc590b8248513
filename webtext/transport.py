"""The HTTP transport under the Fetcher: urllib3 connections whose answers' headers are cut off at the URL's
deadline, the guard that keeps URLs away from internal services, and what each network failure is called.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import urllib3
import urllib3.connection

from webtext.deadline import Deadline, HeaderWatch
from webtext.hosts import Target
from webtext.page import (
    CONNECTION_ERROR,
    CONNECTION_RESET,
    DEADLINE,
    DECODE_ERROR,
    DNS_ERROR,
    INVALID_URL,
    PRIVATE_ADDRESS,
    TIMEOUT,
    TLS_ERROR,
)

_POOLS = 128
_HEADER_WATCH = HeaderWatch()
_header_deadline = threading.local()  # .end: when the current thread's exchange must be over


@contextmanager
def header_deadline(end: float) -> Iterator[None]:
    """Within it, this thread's requests are cut off if their answer's headers are not in by `end`."""
    _header_deadline.end = end
    try:
        yield
    finally:
        _header_deadline.end = None


def pool_manager(maxsize: int) -> urllib3.PoolManager:
    """A urllib3 PoolManager of `maxsize` connections a host, whose connections honour header_deadline."""
    pool = urllib3.PoolManager(num_pools=_POOLS, maxsize=maxsize)
    pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return pool


def address_reason(target: Target) -> str | None:
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


def error_reason(error: Exception, deadline: Deadline) -> str:
    """The reason a failed exchange stands for (one of FETCH_REASONS)."""
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
