"""The live crawler against real local servers: hostile routes, robots.txt, politeness and the Crawler."""

from __future__ import annotations

import codecs
import email.utils
import gzip
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from webserver import GOOD_HTML, HTML, Response, WebServer, first_then, max_in_flight, min_start_gap

from webtext.crawler import Crawler
from webtext.extract import Extracted, extract_page
from webtext.fetch import FetchConfig, Fetcher, _retry_after
from webtext.hosts import HostGate, host_key
from webtext.links import canonical_url
from webtext.page import FETCH_ERROR, FETCH_REASONS, Page
from webtext.robots import parse_robots

SLACK = 0.02
"""Server-side start times lag the client's by a connection set-up that varies by a millisecond or so."""


def config(**overrides) -> FetchConfig:
    """Small limits, so that every hostile route fails fast; local servers need allow_private."""
    settings = dict(
        connect_timeout=0.5, read_timeout=0.5, deadline=2.0, backoff=0.05, host_delay=0.0, max_bytes=1_000_000,
        allow_private=True,
    )  # fmt: skip
    return FetchConfig(**{**settings, **overrides})


def timed(fetcher: Fetcher, url: str) -> tuple[Page | str, float]:
    start = time.monotonic()
    result = fetcher.fetch(url)
    return result, time.monotonic() - start


@pytest.fixture(scope="module")
def server():
    gzipped = Response(headers=(HTML, ("Content-Encoding", "gzip")), body=gzip.compress(GOOD_HTML))
    with WebServer({"/gzipped": gzipped}) as server:
        yield server


@pytest.fixture(scope="module")
def fetcher():
    with Fetcher(config()) as fetcher:
        yield fetcher


@pytest.mark.parametrize(
    ("path", "reason", "limit"),
    [
        ("/slow", "timeout", 1.0),
        ("/drip", "deadline", 2.5),
        ("/drip-headers", "deadline", 2.5),  # each byte within the read timeout: only the deadline ends it
        ("/endless", "too_large", 1.0),
        ("/huge", "too_large", 0.5),
        ("/gzip-bomb", "too_large", 0.5),
        ("/redirect-loop", "too_many_redirects", 0.5),
        ("/redirect-nowhere", "bad_redirect", 0.5),
        ("/redirect-ftp", "bad_redirect", 0.5),
        ("/403", "http_client_error", 0.5),
        ("/404", "http_not_found", 0.5),
        ("/410", "http_not_found", 0.5),
        ("/no-such-route", "http_not_found", 0.5),
        ("/500", "http_server_error", 1.0),
        ("/503", "http_server_error", 1.0),
        ("/reset", "connection_reset", 1.0),
        ("/image.html", "not_html", 0.5),
        ("/report.pdf", "not_html", 0.5),
        ("/no-type-text", "not_html", 0.5),
        ("/private/page.html", "robots_denied", 0.5),
    ],
)
def test_hostile_routes_give_their_reason_promptly(server, fetcher, path, reason, limit):
    result, elapsed = timed(fetcher, server.url(path))
    assert result == reason
    assert elapsed < limit
    assert reason in FETCH_REASONS


def test_a_good_page(server, fetcher):
    before = time.time()
    page = fetcher.fetch(server.url("/page.html"))
    assert isinstance(page, Page)
    assert (page.url, page.final_url, page.status) == (server.url("/page.html"),) * 2 + (200,)
    assert page.body == GOOD_HTML
    assert (page.content_type, page.charset) == ("text/html", "utf-8")
    assert page.header("Content-Length") == str(len(GOOD_HTML))
    assert before <= page.fetched_at <= time.time()


def test_requests_say_who_we_are_and_what_we_accept():
    with WebServer() as server, Fetcher(config()) as fetcher:
        fetcher.fetch(server.url("/"))
    for request in server.requests:
        sent = dict(request.headers)
        assert sent["User-Agent"] == FetchConfig().user_agent
        assert sent["Accept"].startswith("text/html")
        assert sent["Accept-Encoding"] == "gzip, deflate"


def test_bodies_come_back_as_sent_after_content_decoding(server, fetcher):
    assert fetcher.fetch(server.url("/gzipped")).body == GOOD_HTML
    wrong_charset = fetcher.fetch(server.url("/cp1252"))  # decoding text is the extractor's job
    assert wrong_charset.body == "<html><body>café – naïve “quotes”</body></html>".encode("cp1252")
    assert wrong_charset.charset == "utf-8"
    assert fetcher.fetch(server.url("/no-charset")).charset is None
    sniffed = fetcher.fetch(server.url("/no-type"))
    assert (sniffed.content_type, sniffed.body) == ("", GOOD_HTML)


UTF16_PROSE = (
    "A page saved by an old Windows editor is UTF-16 with a byte order mark: its ASCII letters carry "
    "zero bytes, which must not make it binary. Naïve café “quotes” 日本語 — all decoded by the BOM."
)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("headers", [(("Content-Type", "text/html; charset=windows-1252"),), ()])
def test_a_utf16_page_with_a_bom_is_html_decoded_by_its_bom(codec, headers):
    """The BOM wins over the header's charset (WHATWG); an untyped UTF-16 page is sniffed as HTML too."""
    html = f"<html><head><title>t</title></head><body><article><p>{UTF16_PROSE}</p></article></body></html>"
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
    routes = {
        "/utf16": Response(headers=headers, body=bom + html.encode(codec)),
        "/utf16-nul": Response(headers=headers, body=bom + "<html>\0</html>".encode(codec)),
    }
    with WebServer(routes) as server, Fetcher(config()) as fetcher:
        page = fetcher.fetch(server.url("/utf16"))
        assert fetcher.fetch(server.url("/utf16-nul")) == "not_html"  # a NUL character is still binary
    assert isinstance(page, Page)
    extracted = extract_page(page.body, page.charset, page.url)
    assert isinstance(extracted, Extracted)
    assert (UTF16_PROSE in extracted.text, extracted.charset) == (True, codec)


def test_redirects_are_followed_and_bounded(server):
    with Fetcher(config(max_redirects=5)) as fetcher:
        page = fetcher.fetch(server.url("/chain/4"))  # 5 redirects, relative then absolute
        assert (page.url, page.final_url) == (server.url("/chain/4"), server.url("/page.html"))
        assert fetcher.fetch(server.url("/chain/5")) == "too_many_redirects"


def test_retries_back_off_and_honour_retry_after():
    with WebServer() as server, Fetcher(config(retries=2, backoff=0.1)) as fetcher:
        assert isinstance(fetcher.fetch(server.url("/429-once")), Page)
        assert fetcher.fetch(server.url("/500")) == "http_server_error"
        assert fetcher.fetch(server.url("/reset")) == "connection_reset"
        by_path = {
            path: [r for r in server.requests if r.path == path] for path in ("/429-once", "/500", "/reset")
        }
    assert min_start_gap(by_path["/429-once"]) >= 1.0 - SLACK  # Retry-After: 1, not the 0.1 s backoff
    starts = [r.started for r in by_path["/500"]]
    assert len(starts) == 3  # one try, two retries
    assert starts[1] - starts[0] >= 0.1 - SLACK and starts[2] - starts[1] >= 0.2 - SLACK
    assert len(by_path["/reset"]) == 3


def test_a_429_or_5xx_pauses_the_whole_host():
    """The server asked for a break: none of its URLs is requested before the break ends, and one whose
    deadline the break outlasts fails at once as host_paused; other hosts go on."""
    with (
        WebServer() as server,
        WebServer() as other,
        Fetcher(config(deadline=3.0, retries=0)) as fetcher,
    ):
        assert fetcher.fetch(server.url("/429-once")) == "http_rate_limited"  # Retry-After: 1, not retried
        assert isinstance(fetcher.fetch(server.url("/page.html")), Page)
        assert fetcher.fetch(server.url("/429")) == "http_rate_limited"  # Retry-After: 3600
        result, elapsed = timed(fetcher, server.url("/page.html?again"))
        assert (result, elapsed < 0.3) == ("host_paused", True)
        assert isinstance(fetcher.fetch(other.url("/page.html")), Page)
        assert fetcher.fetch(other.url("/500")) == "http_server_error"  # a 5xx pauses it for the backoff
        assert isinstance(fetcher.fetch(other.url("/page.html?next")), Page)
    (limited,) = [r for r in server.requests if r.path == "/429-once"]
    (after,) = [r for r in server.requests if r.path == "/page.html"]
    assert after.started - limited.finished >= 1.0 - SLACK
    assert not [r for r in server.requests if "again" in r.path]
    (error,) = [r for r in other.requests if r.path == "/500"]
    (next_page,) = [r for r in other.requests if r.path == "/page.html?next"]
    assert next_page.started - error.finished >= 0.05 - SLACK  # the backoff, though that URL gave up


def test_retry_after_as_an_http_date():
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    answer = Page("http://a/", "http://a/", 429, (("Retry-After", when),), b"", time.time())
    assert 117 <= _retry_after(answer) <= 120
    assert _retry_after(replace(answer, headers=(("Retry-After", "soon"),))) is None


@pytest.mark.parametrize(
    "value",
    [
        "²",
        "١٢٠",
        "1.5",
        "-1",
        "+1",
        "1e3",
        "Mon, 32 Aug 2020 00:00:00 GMT",
        "Mon, 9999999999 Aug 2020 00:00:00 GMT",
    ],
)
def test_a_retry_after_neither_ascii_digits_nor_an_http_date_is_absent(value):
    """RFC 9110 10.2.3: delta-seconds are 1*DIGIT, ASCII; "²" is a digit to str.isdigit but not to float."""
    answer = Page("http://a/", "http://a/", 429, (("Retry-After", value),), b"", time.time())
    assert _retry_after(answer) is None
    assert _retry_after(replace(answer, headers=(("Retry-After", " 120 "),))) == 120.0


@pytest.mark.parametrize("status", [429, 503])
def test_a_bad_retry_after_means_the_usual_backoff_not_a_bug(status, caplog):
    """The URL is retried after the backoff, as with no Retry-After, and nothing is logged as an error."""
    route = first_then(Response(status, (("Retry-After", "²"),)), Response(body=GOOD_HTML))
    with (
        WebServer({"/busy": route}, robots=None) as server,
        Fetcher(config(retries=1, backoff=0.2)) as fetcher,
        Crawler(fetcher, threads=1) as crawler,
    ):
        crawler.submit(server.host, [(server.url("/busy"), "busy")])
        ((_, _, page),) = crawler.drain()
    assert isinstance(page, Page) and page.body == GOOD_HTML
    first, retry = [r for r in server.requests if r.path == "/busy"]
    assert 0.2 - SLACK <= retry.started - first.finished < 1.0
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_retry_after_past_the_deadline_is_not_waited_for():
    with WebServer() as server, Fetcher(config(deadline=0.8)) as fetcher:
        result, elapsed = timed(fetcher, server.url("/429-once"))
    assert (result, elapsed < 0.3) == ("http_rate_limited", True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
    ],
)
def test_private_addresses_are_refused(url):
    with Fetcher(config(allow_private=False)) as fetcher:
        assert fetcher.fetch(url) == "private_address"
        assert fetcher.fetch(canonical_url(url)) == "private_address"  # as the pipeline fetches it


def test_an_ipv6_literal_is_fetched_by_its_canonical_url_unless_it_is_private():
    with WebServer(address="::1") as server:
        url = canonical_url(f"HTTP://[0:0:0:0:0:0:0:1]:{server.port}/page.html#top")
        assert url == server.url("/page.html")
        with Fetcher(config()) as fetcher:
            assert isinstance(fetcher.fetch(url), Page)
            relative = fetcher.fetch(canonical_url(f"http://[::1]:{server.port}/chain/2"))
            assert relative.final_url == server.url("/page.html")  # redirects resolved against [::1]
        with Fetcher(config(allow_private=False)) as guarded:
            assert guarded.fetch(url) == "private_address"
    assert [r.path for r in server.requests].count("/page.html") == 2  # none from the guarded fetcher


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/file", "invalid_url"),
        ("not a url", "invalid_url"),
        ("http://", "invalid_url"),
        ("http://[::1/", "invalid_url"),
        ("http://exa mple.com/", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://nonexistent.invalid/", "dns_error"),  # .invalid never resolves (RFC 6761)
    ],
)
def test_bad_urls(url, reason):
    with Fetcher(config(allow_private=False)) as fetcher:
        assert fetcher.fetch(url) == reason


def test_a_closed_port_is_a_connection_error():
    with WebServer() as server:
        url = server.url("/")
    with Fetcher(config()) as fetcher:
        assert fetcher.fetch(url) == "connection_error"


def test_robots_txt_500_disallows_everything_and_404_allows_everything():
    with (
        WebServer(robots_status=500) as failing,
        WebServer(robots=None) as missing,
        Fetcher(config()) as fetcher,
    ):
        assert fetcher.fetch(failing.url("/page.html")) == "robots_unavailable"
        assert fetcher.fetch(failing.url("/")) == "robots_unavailable"
        assert isinstance(fetcher.fetch(missing.url("/private/page.html")), Page)
    assert [r.path for r in failing.requests] == ["/robots.txt"] * 3  # retried as a 5xx, then kept


def test_robots_groups_for_our_token_win_over_star():
    robots = "User-agent: *\nAllow: /\n\nUser-agent: WebText\nDisallow: /\n"
    with WebServer(robots=robots) as server:
        with Fetcher(config()) as ours:
            assert ours.fetch(server.url("/page.html")) == "robots_denied"
        with Fetcher(config(user_agent="otherbot/1.0")) as other:
            assert isinstance(other.fetch(server.url("/page.html")), Page)
        with Fetcher(config(respect_robots=False)) as rude:
            assert isinstance(rude.fetch(server.url("/private/page.html")), Page)


def test_robots_rules_longest_match_and_wildcards():
    robots = parse_robots(
        "User-agent: *\nDisallow: /\nAllow: /public\nDisallow: /public/*.pdf$\nDisallow: /tmp*/x\nAllow: /a\nDisallow: /a\n",
        "webtext",
    )
    assert not robots.allows("/secret")
    assert robots.allows("/public/page.html")  # the longer Allow beats Disallow: /
    assert not robots.allows("/public/report.pdf")
    assert robots.allows("/public/report.pdf?download=1")  # $ anchors the end
    assert not robots.allows("/tmp123/x")  # * matches any run of characters
    assert robots.allows("/public/tmp/x")  # rules match from the start of the path
    assert robots.allows("/a")  # equal length: allow wins
    assert parse_robots("", "webtext").allows("/anything")
    assert parse_robots("User-agent: *\nDisallow:\n", "webtext").allows("/anything")
    merged = parse_robots("User-agent: webtext\nDisallow: /a\nUser-agent: webtext\nDisallow: /b\n", "webtext")
    assert not merged.allows("/a") and not merged.allows("/b")  # a token's groups are combined


def test_robots_txt_is_fetched_once_even_when_many_threads_ask_at_once():
    robots = Response(
        headers=(("Content-Type", "text/plain"),), body=b"User-agent: *\nDisallow:\n", delay=0.3
    )
    with WebServer({"/robots.txt": robots}) as server, Fetcher(config(host_concurrency=8)) as fetcher:
        urls = [server.url(f"/page.html?n={n}") for n in range(16)]
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(fetcher.fetch, urls))
    assert all(isinstance(result, Page) for result in results)
    assert sum(r.path == "/robots.txt" for r in server.requests) == 1


def test_crawl_delay_is_honoured_up_to_the_cap():
    with (
        WebServer(robots="User-agent: *\nCrawl-delay: 30\n") as server,
        Fetcher(config(max_crawl_delay=0.25)) as fetcher,
    ):
        start = time.monotonic()
        assert all(isinstance(fetcher.fetch(server.url(f"/?n={n}")), Page) for n in range(3))
        elapsed = time.monotonic() - start
    assert min_start_gap([r for r in server.requests if r.path != "/robots.txt"]) >= 0.25 - SLACK
    assert elapsed < 1.5


def test_one_host_gets_requests_spaced_by_host_delay_and_one_at_a_time():
    with (
        WebServer() as server,
        Fetcher(config(host_delay=0.2, deadline=10)) as fetcher,
        ThreadPoolExecutor(8) as pool,
    ):
        results = list(pool.map(fetcher.fetch, [server.url(f"/page.html?n={n}") for n in range(8)]))
    assert all(isinstance(result, Page) for result in results)
    assert len(server.requests) == 9  # robots.txt and 8 pages
    assert min_start_gap(server.requests) >= 0.2 - SLACK
    assert max_in_flight(server.requests) == 1


def test_host_concurrency_bounds_requests_in_flight():
    slow_page = Response(body=GOOD_HTML, delay=0.2)
    with (
        WebServer({"/wait": slow_page}, robots=None) as server,
        Fetcher(config(host_concurrency=2)) as fetcher,
        ThreadPoolExecutor(6) as pool,
    ):
        list(pool.map(fetcher.fetch, [server.url(f"/wait?n={n}") for n in range(6)]))
    assert max_in_flight(r for r in server.requests if r.path != "/robots.txt") == 2


def test_host_gate_gives_up_after_its_timeout():
    gate = HostGate(concurrency=1)
    with gate.slot("example.com", delay=0.0):
        start = time.monotonic()
        with pytest.raises(TimeoutError), gate.slot("example.com", delay=0.0, timeout=0.1):
            pass
        assert 0.1 <= time.monotonic() - start < 0.5
        with gate.slot("other.example", delay=0.0, timeout=0.1):  # other hosts are not held up
            pass


def test_host_key_is_host_and_port_unless_default():
    assert host_key("http://Example.com:80/a") == host_key("https://example.com/b") == "example.com"
    assert host_key("http://127.0.0.1:8080/") == "127.0.0.1:8080"
    assert host_key("http://[::1]:8080/") == "[::1]:8080"
    assert host_key("not a url") == ""


def test_crawler_runs_hosts_concurrently_and_each_politely():
    servers = [WebServer().start() for _ in range(4)]
    try:
        with Fetcher(config(host_delay=0.2)) as fetcher, Crawler(fetcher, threads=8) as crawler:
            start = time.monotonic()
            for server in servers:
                crawler.submit(server.host, [(server.url(f"/page.html?n={n}"), n) for n in range(3)])
            results = list(crawler.drain())
            elapsed = time.monotonic() - start
    finally:
        for server in servers:
            server.stop()
    assert len(results) == 12 and all(isinstance(page, Page) for _, _, page in results)
    assert elapsed < 1.2  # each host needs 0.6 s (robots.txt, then 3 pages 0.2 s apart): 2.4 s one by one
    assert all(min_start_gap(server.requests) >= 0.2 - SLACK for server in servers)


class _ExplodingFetcher(Fetcher):
    """A fetcher with a bug, to show a crawler survives one."""

    def fetch(self, url: str) -> Page | str:
        if "boom" in url:
            raise RuntimeError("a bug")
        return super().fetch(url)


def test_crawler_returns_every_item_exactly_once_with_its_payload():
    servers = [WebServer().start() for _ in range(3)]
    expected = Counter()
    yielded = []
    try:
        with (
            _ExplodingFetcher(config()) as fetcher,
            Crawler(fetcher, threads=2) as crawler,
        ):  # room for 4 hosts
            batches = [
                (s.host, [(s.url(f"/page.html?n={n}"), (s.port, n)) for n in range(5)]) for s in servers
            ]
            batches += [
                (s.host, [(s.url(f"/404?n={n}"), (s.port, "404", n)) for n in range(2)]) for s in servers
            ]
            batches += [("", [("not a url", "invalid")]), ("boom", [("http://boom/", "boom")])]
            for host, items in batches:  # the DoFn's pattern
                crawler.submit(host, items)
                expected.update(items)
                yielded += crawler.ready()
            yielded += crawler.drain()
            assert list(crawler.ready()) == [] and list(crawler.drain()) == []
    finally:
        for server in servers:
            server.stop()
    assert Counter((url, payload) for url, payload, _ in yielded) == expected
    outcomes = {payload: result for _, payload, result in yielded}
    assert (outcomes["invalid"], outcomes["boom"]) == ("invalid_url", FETCH_ERROR)
    assert all(isinstance(result, Page) for payload, result in outcomes.items() if len(payload) == 2)
    assert all(result == "http_not_found" for payload, result in outcomes.items() if len(payload) == 3)


def test_a_host_submitted_twice_does_not_take_over_the_workers():
    slow_page = Response(body=GOOD_HTML, delay=0.1)
    with (
        WebServer({"/wait": slow_page}, robots=None) as busy,
        WebServer(robots=None) as other,
        Fetcher(config(deadline=10)) as fetcher,
        Crawler(fetcher, threads=2) as crawler,
    ):
        for batch in range(2):
            crawler.submit(busy.host, [(busy.url(f"/wait?n={n}"), "busy") for n in range(batch, 8, 2)])
        crawler.submit(other.host, [(other.url("/"), "other")])
        order = [payload for _, payload, _ in crawler.drain()]
    assert order.index("other") <= 1  # the second thread was free for it: both batches share one worker
