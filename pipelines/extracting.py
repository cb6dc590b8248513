"""Fetched pages -> Documents: the main text and metadata of each page (trafilatura), in child processes
that are killed past the time limit; a page without text is dropped with the reason."""

from __future__ import annotations

import collections
import queue
from concurrent.futures import Future, ThreadPoolExecutor

import apache_beam as beam
import trafilatura

from pipelines.fetching import Fetched
from pipelines.metrics import count_passed
from pipelines.outputs import drop, windowed, with_dropped
from webtext.extract import ExtractConfig, Extracted
from webtext.extractor import Extractor
from webtext.shards import Document
from webtext.stages import EXTRACT

EXTRACTOR = f"trafilatura {trafilatura.__version__}"


class ExtractFn(beam.DoFn):
    """Fetched -> Document with trafilatura, in child processes that are killed past the time limit.

    Pages go to `config.processes` children through as many threads (each waits on its child's pipe,
    so the GIL is free): with one child, Beam's own work on a page overlaps the extraction of the next;
    with more, pages are extracted in parallel. Outputs keep the input order; a bundle's last pages are
    emitted by `finish_bundle`.
    """

    def __init__(self, config: ExtractConfig):
        self.config = config

    def setup(self) -> None:
        self._extractors = [Extractor(self.config) for _ in range(self.config.processes)]
        self._idle: queue.SimpleQueue[Extractor] = queue.SimpleQueue()
        for extractor in self._extractors:
            self._idle.put(extractor)
        self._pool = ThreadPoolExecutor(self.config.processes, thread_name_prefix="extract")
        self._pending: collections.deque[Future] = collections.deque()

    def _extract(self, fetched: Fetched) -> tuple[Fetched, Extracted | str]:
        extractor = self._idle.get()
        try:
            page = fetched.page
            return fetched, extractor.extract(page.body, page.charset, page.final_url)
        finally:
            self._idle.put(extractor)

    def process(self, fetched: Fetched):
        self._pending.append(self._pool.submit(self._extract, fetched))
        while self._pending and (self._pending[0].done() or len(self._pending) > 2 * self.config.processes):
            yield _document_or_dropped(*self._pending.popleft().result())

    def finish_bundle(self):
        while self._pending:
            yield windowed(_document_or_dropped(*self._pending.popleft().result()))

    def teardown(self) -> None:
        self._pool.shutdown()
        for extractor in self._extractors:
            extractor.close()


def _document_or_dropped(fetched: Fetched, result: Extracted | str):
    if isinstance(result, str):
        return drop(fetched.url, EXTRACT, result)
    count_passed(EXTRACT)
    return Document.from_page(
        fetched.url,
        fetched.provenance,
        fetched.page,
        fetched.source,
        text=result.text,
        title=result.title,
        charset=result.charset,
        published=result.date,
        author=result.author,
        sitename=result.sitename,
        description=result.description,
        extractor=EXTRACTOR,
    )


class Extract(beam.PTransform):
    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config

    def expand(self, fetched: beam.PCollection[Fetched]):
        return with_dropped(beam.ParDo(ExtractFn(self.config)), "Extract", fetched)
