"""Many hosts' URLs fetched at once on threads, for one Beam DoFn, without one host's politeness waits
holding up the others.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from webtext.fetch import Fetcher
from webtext.page import FETCH_ERROR, Page

_log = logging.getLogger(__name__)

T = TypeVar("T")
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
