"""Each kept URL's page: fetched live (FetchLive, optionally saved by SaveWarc) or replayed from WARC files
(ReplayWarc). A URL without a page is dropped with the reason, as a `Dropped` record."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.files import MatchPaths
from pipelines.metrics import count, count_dropped, count_passed
from pipelines.outputs import drop, windowed, with_dropped
from webtext.crawler import Crawler
from webtext.fetch import FetchConfig, Fetcher
from webtext.hosts import host_key
from webtext.links import INVALID_URL, Provenance, canonical_url
from webtext.page import Page, page_rejection
from webtext.stages import FETCH, HOST_URL_CAP, NOT_IN_WARC, WARC, WARC_FILES, WARC_RECORDS_UNUSED
from webtext.warc import WarcPageWriter, read_pages


@dataclass(frozen=True)
class Fetched:
    """A page fetched for a kept URL, with the Reddit provenance of that URL."""

    url: str
    provenance: Provenance
    page: Page
    source: str
    """"live" or "warc"."""


def _fetched_or_dropped(url: str, provenance: Provenance, outcome: Page | str, source: str):
    if isinstance(outcome, str):
        return drop(url, FETCH, outcome)
    count_passed(FETCH)
    return Fetched(url, provenance, outcome, source)


# ---------------------------------------------------------------------- FetchLive


class FetchHostsFn(beam.DoFn):
    """(host, links) -> Fetched | Dropped, many hosts in flight at once on a thread pool.

    The hosts of a bundle are queued on the `Crawler` as they arrive and their pages emitted as they
    finish; what is still in flight when the bundle ends is emitted by `finish_bundle`.
    """

    def __init__(self, config: FetchConfig):
        self.config = config

    def setup(self) -> None:
        self._fetcher = Fetcher(self.config)
        self._crawler = Crawler(self._fetcher, threads=self.config.threads)

    def process(self, element: tuple[str, Iterable[tuple[str, Provenance]]]):
        host, links = element
        links = sorted(links, key=lambda link: (-link[1].score_max, link[0]))  # the best-voted first
        if self.config.max_urls_per_host:
            # A host's URLs are fetched one after another: a cap bounds the slowest host's time.
            for url, _ in links[self.config.max_urls_per_host :]:
                yield drop(url, FETCH, HOST_URL_CAP)
            links = links[: self.config.max_urls_per_host]
        self._crawler.submit(host, links)
        for url, provenance, outcome in self._crawler.ready():
            yield _fetched_or_dropped(url, provenance, outcome, "live")

    def finish_bundle(self):
        for url, provenance, outcome in self._crawler.drain():
            yield windowed(_fetched_or_dropped(url, provenance, outcome, "live"))

    def teardown(self) -> None:
        self._crawler.close()
        self._fetcher.close()


class FetchLive(beam.PTransform):
    """(URL, Provenance) -> Fetched over HTTP, politely: URLs are grouped by host before fetching."""

    def __init__(self, config: FetchConfig):
        super().__init__()
        self.config = config

    def expand(self, urls: beam.PCollection[tuple[str, Provenance]]):
        by_host = (
            urls
            | "ByHost" >> beam.Map(lambda item: (host_key(item[0]), item))
            | "GroupByHost" >> beam.GroupByKey()
        )
        fetch = FetchHostsFn(self.config)
        return with_dropped(beam.ParDo(fetch), "Fetch", by_host)


# ---------------------------------------------------------------------- ReplayWarc


def read_warc(path: str) -> Iterator[tuple[str, Page]]:
    """(canonical URL asked for, Page) for every response in one WARC file; bad records counted."""
    count(WARC_FILES)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        for item in read_pages(stream, path):
            if isinstance(item, str):
                count_dropped(WARC, item)
                continue
            url = canonical_url(item.url)
            if url is None:
                count_dropped(WARC, INVALID_URL)
                continue
            count_passed(WARC)
            yield url, item


def _newest(pages: Iterable[Page]) -> Page | None:
    """A URL crawled more than once: the newest successful response, the choice independent of order."""
    return max(
        pages,
        key=lambda page: (200 <= page.status < 300, page.fetched_at, page.final_url, page.body),
        default=None,
    )


def replay(element: tuple[str, dict[str, list]]):
    url, joined = element
    pages = joined["pages"]
    if not joined["links"]:
        count(WARC_RECORDS_UNUSED, len(list(pages)))
        return
    (provenance,) = joined["links"]
    page = _newest(pages)
    outcome = NOT_IN_WARC if page is None else page_rejection(page) or page
    yield _fetched_or_dropped(url, provenance, outcome, "warc")


class ReplayWarc(beam.PTransform):
    """(URL, Provenance) -> Fetched from WARC files (a Common Crawl extract or an earlier crawl), joined
    on the canonical URL; a kept URL with no response in them is dropped as `not_in_warc`."""

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, urls: beam.PCollection[tuple[str, Provenance]]):
        pages = (
            urls.pipeline | "WarcFiles" >> MatchPaths(self.patterns) | "ReadWarc" >> beam.FlatMap(read_warc)
        )
        joined = {"links": urls, "pages": pages} | "JoinOnUrl" >> beam.CoGroupByKey()
        return with_dropped(beam.FlatMap(replay), "Replay", joined)


# ---------------------------------------------------------------------- SaveWarc


class WarcSink(fileio.FileSink):
    """Fetched pages -> one WARC file per writer, for rerunning extraction without refetching."""

    def create_metadata(self, destination: str, full_file_name: str) -> fileio.FileMetadata:
        return fileio.FileMetadata(
            "application/warc", CompressionTypes.UNCOMPRESSED
        )  # records gzip themselves

    def open(self, fh) -> None:
        self._writer = WarcPageWriter(fh)

    def write(self, record: Fetched) -> None:
        self._writer.write(record.page)

    def flush(self) -> None:
        self._writer.flush()


class SaveWarc(beam.PTransform):
    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory

    def expand(self, fetched: beam.PCollection[Fetched]):
        return fetched | "WriteWarc" >> fileio.WriteToFiles(
            self.directory,
            file_naming=fileio.default_file_naming("crawl", ".warc.gz"),
            sink=lambda destination: WarcSink(),
        )
