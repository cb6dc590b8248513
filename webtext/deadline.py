"""A URL's total time: the `Deadline` every wait of its fetch is measured against, and the `HeaderWatch` that
holds it where socket timeouts cannot (an answer's headers trickling in a byte at a time).
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Deadline:
    """When a URL's time is up, on the time.monotonic() clock."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


class HeaderWatch:
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
