"""Parsing Pushshift lines of every era, selecting links by the paper's rules, canonical URLs."""

from __future__ import annotations

import json
from datetime import date

import pytest

from webtext import links
from webtext.hosts import host_key
from webtext.links import LinkRules, Provenance, canonical_url, rejection, unix_time
from webtext.submissions import Submission, parse_submission


def _line(**fields) -> str:
    record = {"id": "abc", "subreddit": "science", "url": "https://example.com/a", "score": 5}
    record.update(created_utc=1500000000, is_self=False, over_18=False)
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (1500000000, 1500000000),
        ("1500000000", 1500000000),
        (1500000000.0, 1500000000),
        ("1500000000.7", 1500000000),
    ],
)
def test_created_utc_of_every_era(created, expected):
    assert parse_submission(_line(created_utc=created)).created_utc == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ("[1, 2]", "not_an_object"),
        (_line(id=...), "missing_id"),
        (_line(id=""), "missing_id"),
        (_line(created_utc=...), "bad_created_utc"),
        (_line(created_utc="yesterday"), "bad_created_utc"),
        (_line(created_utc=True), "bad_created_utc"),
        (_line(created_utc=-99999999999999), "bad_created_utc"),
        (_line(created_utc="1e20"), "bad_created_utc"),
        (_line(score=1e30), "bad_score"),
        (_line(score="many"), "bad_score"),
        (_line(score=...), "bad_score"),
    ],
)
def test_bad_lines_give_a_reason_never_an_exception(line, reason):
    assert parse_submission(line) == reason


def test_old_dumps_without_flags_and_escaped_urls():
    old = json.loads(_line(url="http://example.com/?a=1&amp;b=2"))
    for key in ("is_self", "over_18", "score"):
        del old[key]
    old.update(ups="7", domain="example.com")
    parsed = parse_submission(json.dumps(old))
    assert parsed == Submission("abc", "science", "http://example.com/?a=1&b=2", 7, 1500000000, False, False)
    self_post = parse_submission(_line(is_self=..., domain="self.science", url="https://www.reddit.com/r/x"))
    assert self_post.is_self


def _submission(url="https://example.com/article", **overrides) -> Submission:
    fields = dict(id="s1", subreddit="science", url=url, score=3, created_utc=unix_time("2017-06-01"))
    fields.update(is_self=False, over_18=False)
    fields.update(overrides)
    return Submission(**fields)


@pytest.mark.parametrize(
    ("submission", "reason"),
    [
        (_submission(), None),
        (_submission("https://github.com/openai/gpt-2"), None),  # kept by WebText, unlike OpenWebText
        (_submission("https://www.google.com/search?q=x"), None),
        (_submission("https://www.ebay.com/itm/1"), None),
        (_submission(is_self=True), links.SELF_POST),
        (_submission(""), links.NO_URL),
        (_submission("ftp://example.com/file"), links.INVALID_URL),
        (_submission("not a url"), links.INVALID_URL),
        (_submission("https://www.reddit.com/r/science/comments/1/x/"), links.REDDIT_HOSTED),
        (_submission("https://i.redd.it/abc.jpg"), links.REDDIT_HOSTED),
        (_submission("https://v.redd.it/abc"), links.REDDIT_HOSTED),
        (_submission(score=2), links.LOW_SCORE),
        (_submission(over_18=True), links.OVER_18),
        (_submission("https://example.com/photo.JPG"), links.NON_DOCUMENT_EXTENSION),
        (_submission("https://example.com/paper.pdf"), links.NON_DOCUMENT_EXTENSION),
        (_submission("https://i.imgur.com/abc"), links.MEDIA_HOST),
        (_submission("https://youtu.be/abc"), links.MEDIA_HOST),
        (_submission("https://en.wikipedia.org/wiki/Reddit"), links.WIKIPEDIA),
        (_submission("https://en.m.wikipedia.org/wiki/Reddit"), links.WIKIPEDIA),
    ],
)
def test_paper_rules_by_default(submission, reason):
    assert rejection(submission, LinkRules()) == reason


def test_every_rule_is_a_switch():
    rules = LinkRules(
        min_score=0,
        allow_over_18=True,
        keep_reddit_hosted=True,
        keep_non_documents=True,
        keep_media_hosts=True,
        keep_wikipedia=True,
    )
    for url in (
        "https://i.redd.it/a.jpg",
        "https://i.imgur.com/a",
        "https://en.wikipedia.org/wiki/A",
        "https://x.org/a.png",
    ):
        assert rejection(_submission(url, score=0, over_18=True), rules) is None
    window = LinkRules(after=date(2017, 1, 1), before=date(2018, 1, 1))
    assert rejection(_submission(created_utc=unix_time("2018-01-01")), window) == links.AFTER_WINDOW
    assert rejection(_submission(created_utc=unix_time("2017-12-31")), window) is None
    assert rejection(_submission(created_utc=unix_time("2016-12-31")), window) == links.BEFORE_WINDOW
    blocked = LinkRules(blocked_subreddits=frozenset({"science"}))
    assert rejection(_submission(subreddit="Science"), blocked) == links.BLOCKED_SUBREDDIT
    assert (
        rejection(
            _submission("https://blog.example.net/p"),
            LinkRules(blocked_hosts=frozenset({"example.net"})),
        )
        == links.BLOCKED_HOST
    )


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM:80/Path?b=2&a=1#frag", "http://example.com/Path?a=1&b=2"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com/a?utm_source=x&id=3&fbclid=y&UTM_Medium=z", "https://example.com/a?id=3"),
        ("https://example.com/a?x=1&amp;y=2", "https://example.com/a?x=1&y=2"),
        ("https://example.com/a b/ü?q=ü", "https://example.com/a%20b/%C3%BC?q=%C3%BC"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://example.com./a", "https://example.com/a"),
        ("mailto:someone@example.com", None),
        ("https://example.com:99999/", None),
        ("http://gizmodo.com/#!5778431/an-article", "http://gizmodo.com/#!5778431/an-article"),
        ("", None),
        ("http://[2001:DB8::1]:8080/path", "http://[2001:db8::1]:8080/path"),  # IPv6: brackets kept
        ("https://[2606:4700:4700:0:0:0:0:1111]:443/", "https://[2606:4700:4700::1111]/"),  # and compressed
        ("http://[::FFFF:127.0.0.1]/", "http://[::ffff:7f00:1]/"),  # in hex, as WHATWG URLs spell it
        ("http://[fe80::1%25eth0]/", None),  # a zone names an interface of the crawling machine
        ("http://[v1.fe]/", None),  # IPvFuture: no browser knows it
        ("http://[::1/", None),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical
    if canonical is not None:
        assert canonical_url(canonical) == canonical  # idempotent: key and equality agree


def test_a_public_ipv6_literal_passes_the_link_stage():
    url = canonical_url("http://[2606:4700:4700::1111]:8080/a")
    assert rejection(_submission(url), LinkRules()) is None
    assert host_key(url) == "[2606:4700:4700::1111]:8080"  # what fetching groups and checks it by


def test_provenance_merges_in_any_order():
    a = Provenance.of(_submission(id="b", subreddit="news", score=10, created_utc=200))
    b = Provenance.of(_submission(id="a", subreddit="science", score=4, created_utc=100))
    c = Provenance.of(_submission(id="c", subreddit="news", score=7, created_utc=100))
    merged = a.merge(b).merge(c)
    assert merged == c.merge(a.merge(b)) == b.merge(c).merge(a)
    assert merged.submission_ids == ("a", "b", "c") and merged.subreddits == ("news", "science")
    assert (merged.score_sum, merged.score_max) == (21, 10)
    assert (merged.first_created_utc, merged.first_submission_id) == (100, "a")
