"""Pages to and from WARC files: replaying a Common Crawl extract or an earlier crawl of ours.

Reading streams record by record (per-record gzip, as Common Crawl writes, or plain .warc) and never
raises on bad input: what is not a page is a reason string the pipeline counts. Replay does not
follow redirects inside a WARC: a 3xx record is a Page with that status. Our own crawls need no
redirect logic because the writer stores the final response under the URL that was asked for
(`WARC-Webtext-Source-URI`).

`resource` records with an http(s) target (a document stored without its HTTP envelope) are read
as status-200 Pages with the record's Content-Type: they hold a document as much as a response does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from http import HTTPStatus
from io import BytesIO
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.limitreader import LimitReader
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import iso_date_to_datetime
from warcio.warcwriter import WARCWriter

from webtext.page import Page

logger = logging.getLogger(__name__)

SOURCE_URI = "WARC-Webtext-Source-URI"
"""Extension field: the URL asked for, when the response came from elsewhere (redirects)."""

REWRITTEN_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
"""HTTP headers the writer replaces: it stores the body decoded, so the originals would lie."""

# Reasons a WARC record is not a Page; each is a counter in the pipeline's stats.
WARC_REVISIT = "warc_revisit"
"""A revisit record: "same as an earlier capture", no payload of its own to extract."""
WARC_TRUNCATED = "warc_truncated"
"""The file ends mid-record or is not a WARC at all; reading stops there (once per file)."""
WARC_BAD_RECORD = "warc_bad_record"
"""A response whose HTTP block, date or content encoding cannot be decoded."""
WARC_REASONS = (WARC_REVISIT, WARC_TRUNCATED, WARC_BAD_RECORD)

_HTTP_SCHEMES = ("http://", "https://")
_CONTENT_CODINGS = frozenset({"", "identity", *BufferedReader.get_supported_decompressors()})


def read_pages(stream: BinaryIO, name: str) -> Iterator[Page | str]:
    """Every page in the WARC `stream` (a Page or one of WARC_REASONS), in file order.

    `name` only labels the log line of a truncated file. Records that are not documents (request,
    metadata, warcinfo, non-HTTP responses such as dns:) are skipped without a reason.
    """
    archive = ArchiveIterator(stream)
    records = iter(archive)
    read = 0
    while True:
        try:
            record = next(records, None)
            if record is None:
                if archive.offset < archive.fh.tell():  # e.g. a gzip member cut before any output
                    raise EOFError("bytes after the last record that are not a record")
                return
            page = _page(record)
            if not _complete(record):
                raise EOFError("record shorter than its Content-Length")
        # warcio raises whatever its parsers and decompressors raise on a broken file (ArchiveLoadFailed,
        # EOFError, zlib.error, ValueError, AttributeError on missing fields...): all mean "stop here".
        except Exception as error:
            logger.warning("%s: unreadable after %d records (%s)", name, read, error)
            yield WARC_TRUNCATED
            return
        read += 1
        if page is not None:
            yield page


def _page(record) -> Page | str | None:
    """The Page or reason for one record, None for records that hold no document."""
    target = record.rec_headers.get_header("WARC-Target-URI") or ""
    if record.rec_type == "revisit":
        return WARC_REVISIT
    if record.rec_type not in ("response", "resource") or not target.startswith(_HTTP_SCHEMES):
        return None
    fetched_at = _timestamp(record.rec_headers.get_header("WARC-Date") or "")
    if fetched_at is None:
        return WARC_BAD_RECORD
    url = record.rec_headers.get_header(SOURCE_URI) or target
    if record.rec_type == "resource":
        content_type = record.rec_headers.get_header("Content-Type")
        headers = (("Content-Type", content_type),) if content_type else ()
        return Page(url, target, 200, headers, record.raw_stream.read(), fetched_at)
    http = record.http_headers
    status = http.get_statuscode() if http else ""
    coding = (http.get_header("Content-Encoding") or "").strip().lower() if http else ""
    if not status.isdigit() or coding not in _CONTENT_CODINGS:
        return WARC_BAD_RECORD
    body = record.content_stream().read()
    return Page(url, target, int(status), tuple(http.headers), body, fetched_at)


def _timestamp(warc_date: str) -> float | None:
    try:
        return iso_date_to_datetime(warc_date, tz_aware=True).timestamp()
    except (ValueError, TypeError):
        return None


def _complete(record) -> bool:
    """The record has its mandatory Content-Length and all of those bytes were there."""
    if not (record.rec_headers.get_header("Content-Length") or "").strip().isdigit():
        return False
    stream = record.raw_stream
    while stream.read(1 << 16):
        pass
    return not (isinstance(stream, LimitReader) and stream.limit > 0)


class WarcPageWriter:
    """Writes Pages as gzipped WARC/1.0 `response` records to an open binary file it never closes.

    The output depends on nothing but the pages: record ids are name-based UUIDs of the URL and
    fetch time, and the leading `warcinfo` record is written with the first page and dated by it. So
    the same pages give the same bytes (the bundled sample relies on it), and a re-crawl of the same
    URL at another time gets a new id.
    """

    def __init__(self, stream: BinaryIO):
        self._writer = WARCWriter(stream, gzip=True, warc_version="1.0")
        self._stream = stream
        self._started = False

    def write(self, page: Page) -> None:
        if not self._started:
            self._write_warcinfo(page)
            self._started = True
        fields = {
            "WARC-Record-ID": _record_id("response", page),
            "WARC-Date": _warc_date(page.fetched_at),
        }
        if page.url != page.final_url:
            fields[SOURCE_URI] = page.url
        record = self._writer.create_warc_record(
            page.final_url,
            "response",
            payload=BytesIO(page.body),
            length=len(page.body),
            warc_headers_dict=fields,
            http_headers=_http_headers(page),
        )
        self._writer.write_record(record)

    def flush(self) -> None:
        self._stream.flush()

    def _write_warcinfo(self, first: Page) -> None:
        info = {"software": "webtext", "format": "WARC File Format 1.0"}
        record = self._writer.create_warcinfo_record("", info)
        record.rec_headers.replace_header("WARC-Record-ID", _record_id("warcinfo", first))
        record.rec_headers.replace_header("WARC-Date", _warc_date(first.fetched_at))
        self._writer.write_record(record)


def _http_headers(page: Page) -> StatusAndHeaders:
    """The response's header block as stored: the body is decoded, so its length is the body's."""
    try:
        reason = HTTPStatus(page.status).phrase
    except ValueError:
        reason = ""
    headers = [
        (_one_line(name), _one_line(value))
        for name, value in page.headers
        if name.lower() not in REWRITTEN_HEADERS
    ]
    headers.append(("Content-Length", str(len(page.body))))
    return StatusAndHeaders(f"{page.status} {reason}".strip(), headers, protocol="HTTP/1.1")


def _one_line(text: str) -> str:
    """A header that spans lines would end the block early and corrupt the record."""
    return text.replace("\r", " ").replace("\n", " ")


def _record_id(record_type: str, page: Page) -> str:
    name = f"{record_type} {page.url} {page.final_url} {page.fetched_at!r}"
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}>"


def _warc_date(fetched_at: float) -> str:
    """WARC/1.0 dates have whole seconds."""
    return datetime.fromtimestamp(int(fetched_at), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
