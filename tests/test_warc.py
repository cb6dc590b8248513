"""WARC replay and writing: round trips, Common Crawl style encodings, damaged files, the bundled sample."""

from __future__ import annotations

import gzip
from io import BytesIO

import pytest
from sample import make_sample
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webtext.page import Page
from webtext.warc import WARC_BAD_RECORD, WARC_REVISIT, WARC_TRUNCATED, WarcPageWriter, read_pages

PAGES = [
    Page(
        "https://example.com/a",
        "https://example.com/a",
        200,
        (
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "17"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ),
        "<p>Grüße, ünïcode</p>".encode() * 40,
        1_512_000_000.0,
    ),
    Page(
        "http://short.example/x",
        "https://example.org/long/path?q=1",
        200,
        (("Content-Type", "text/plain"),),
        b"plain\r\n\r\nwith blank lines\r\n",
        1_512_000_061.0,
    ),
    Page("https://example.com/gone", "https://example.com/gone", 404, (), b"", 1_512_000_122.0),
]


def _warc(pages: list[Page]) -> bytes:
    out = BytesIO()
    writer = WarcPageWriter(out)
    for page in pages:
        writer.write(page)
    writer.flush()
    assert not out.closed
    return out.getvalue()


def _read(data: bytes) -> list[Page | str]:
    return list(read_pages(BytesIO(data), "test.warc.gz"))


def _stored(page: Page) -> Page:
    """What the writer keeps: the body decoded, so its encodings dropped and its length recomputed."""
    headers = [
        (k, v)
        for k, v in page.headers
        if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
    ]
    return Page(
        page.url,
        page.final_url,
        page.status,
        (*headers, ("Content-Length", str(len(page.body)))),
        page.body,
        page.fetched_at,
    )


def test_round_trip():
    assert _read(_warc(PAGES)) == [_stored(page) for page in PAGES]


def test_round_trip_uncompressed_and_whole_seconds():
    page = Page("https://example.com/", "https://example.com/", 200, (), b"x", 1_512_000_000.75)
    (read,) = _read(gzip.decompress(_warc([page])))  # plain .warc: the same records, one gzip member each
    assert read.fetched_at == 1_512_000_000.0 and read.body == b"x"


def test_records_say_where_the_page_came_from():
    # warcio's records are only readable while the iterator stands on them.
    records = [
        (r.rec_type, r.rec_headers, r.content_stream().read()) for r in ArchiveIterator(BytesIO(_warc(PAGES)))
    ]
    assert [record_type for record_type, _, _ in records] == ["warcinfo", "response", "response", "response"]
    assert b"software: webtext" in records[0][2]
    redirected = records[2][1]
    assert redirected.get_header("WARC-Target-URI") == "https://example.org/long/path?q=1"
    assert redirected.get_header("WARC-Webtext-Source-URI") == "http://short.example/x"
    assert records[1][1].get_header("WARC-Webtext-Source-URI") is None
    assert records[1][1].get_header("WARC-Date") == "2017-11-30T00:00:00Z"


def test_writing_is_deterministic():
    assert _warc(PAGES) == _warc(PAGES)
    later = [Page(p.url, p.final_url, p.status, p.headers, p.body, p.fetched_at + 1) for p in PAGES]
    ids = [r.rec_headers.get_header("WARC-Record-ID") for r in ArchiveIterator(BytesIO(_warc(PAGES + later)))]
    assert len(set(ids)) == len(ids)


def _raw_warc(*records) -> bytes:
    """Records made with plain warcio: what other crawlers write."""
    out = BytesIO()
    writer = WARCWriter(out, gzip=True)
    for record_type, url, payload, http in records:
        writer.write_record(
            writer.create_warc_record(
                url,
                record_type,
                payload=BytesIO(payload),
                length=len(payload),
                warc_headers_dict={"WARC-Date": "2017-12-16T09:00:00Z"},
                http_headers=http,
            )
        )
    return out.getvalue()


def test_common_crawl_chunked_gzip_response_is_decoded():
    out = BytesIO()
    body = "<html><body><p>Café au lait</p></body></html>".encode() * 80
    make_sample.write_common_crawl_response(
        WARCWriter(out, gzip=True), "https://cc.example/", body, "2017-12-16T09:12:44Z"
    )
    on_disk = [record.raw_stream.read() for record in ArchiveIterator(BytesIO(out.getvalue()))]
    size, rest = on_disk[0].split(b"\r\n", 1)  # really chunked gzip on disk
    assert int(size, 16) > 0 and rest.startswith(b"\x1f\x8b") and rest.endswith(b"\r\n0\r\n\r\n")
    (page,) = _read(out.getvalue())
    assert page.body == body
    assert page.status == 200 and page.header("Content-Encoding") == "gzip"
    assert page.fetched_at == 1_513_415_564.0


def test_other_records_are_skipped_or_give_reasons():
    ok = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    data = _raw_warc(
        ("request", "https://a.example/", b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", None),
        ("metadata", "https://a.example/", b"fetchTimeMs: 12\r\n", None),
        ("response", "dns:a.example", b"20171216090000\na.example. 300 IN A 10.0.0.1\n", None),
        ("revisit", "https://a.example/", b"", ok),
        ("response", "https://b.example/", b"not ok", StatusAndHeaders("OK", [], protocol="HTTP/1.1")),
        (
            "response",
            "https://c.example/",
            b"\x1f\x9d\x90",
            StatusAndHeaders("200 OK", [("Content-Encoding", "compress")], protocol="HTTP/1.1"),
        ),
        ("resource", "https://d.example/page.html", b"<p>stored without HTTP</p>", None),
        ("response", "https://e.example/", b"after the bad ones", ok),
    )
    items = _read(data)
    assert items[:3] == [WARC_REVISIT, WARC_BAD_RECORD, WARC_BAD_RECORD]
    resource, last = items[3:]
    assert (resource.url, resource.status, resource.body) == (
        "https://d.example/page.html",
        200,
        b"<p>stored without HTTP</p>",
    )
    assert (last.final_url, last.body) == ("https://e.example/", b"after the bad ones")


@pytest.mark.parametrize("compressed", [True, False])
def test_a_cut_file_keeps_the_records_before_and_says_so_once(compressed):
    data = _warc(PAGES) if compressed else gzip.decompress(_warc(PAGES))
    stored = [_stored(page) for page in PAGES]
    for cut in range(0, len(data), 7):
        items = _read(data[:cut])
        pages = [item for item in items if isinstance(item, Page)]
        assert items in (pages, [*pages, WARC_TRUNCATED]), cut
        assert pages == stored[: len(pages)], cut
    # A cut inside a record, here its middle, is always reported.
    records = ArchiveIterator(BytesIO(data))
    for i, _ in enumerate(records):
        middle = records.get_record_offset() + records.get_record_length() // 2
        assert _read(data[:middle]) == [*stored[: max(i - 1, 0)], WARC_TRUNCATED]


def test_not_a_warc():
    assert _read(b"") == []
    assert _read(b"this is not a WARC file\n" * 3) == [WARC_TRUNCATED]
    assert _read(gzip.compress(b"neither is this", mtime=0)) == [WARC_TRUNCATED]


def test_sample_common_crawl_extract():
    items = _read(make_sample.common_crawl_extract())
    birds = make_sample.ARTICLES["birds"]
    assert items[1:] == [WARC_REVISIT, WARC_BAD_RECORD, WARC_TRUNCATED]
    assert items[0].url == birds.url and items[0].body == make_sample.render(birds).encode()


def test_sample_build_is_reproducible_and_committed(tmp_path):
    first = make_sample.write_sample(tmp_path / "one")
    second = make_sample.write_sample(tmp_path / "two")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    for path in first:
        committed = make_sample.BUILD / path.name
        assert committed.is_file(), f"{committed} is missing: run python samples/make_sample.py"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: run python samples/make_sample.py"
        )
    assert sorted(p.name for p in make_sample.BUILD.iterdir()) == sorted(p.name for p in first)


def test_sample_pages_read_back_from_the_sample_warc():
    with open(make_sample.BUILD / "pages.warc.gz", "rb") as stream:
        assert list(read_pages(stream, "pages.warc.gz")) == [_stored(p) for p in make_sample.sample_pages()]
