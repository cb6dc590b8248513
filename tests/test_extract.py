"""Decoding pages as browsers would, extracting main text and metadata, and the killable child."""

from __future__ import annotations

import os
import signal
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webtext.charset import decode_html
from webtext.extract import (
    EXTRACT_REASONS,
    NO_TEXT,
    TIMEOUT,
    TOO_LARGE,
    WORKER_CRASH,
    ExtractConfig,
    Extracted,
    extract_page,
)
from webtext.extractor import Extractor

URL = "https://news.example.com/2017/03/14/glacier-study.html"

PARAGRAPHS = [
    "Researchers at the Northern Ice Institute said on Tuesday that the glacier had retreated faster over the "
    "last decade than at any time since measurements began, a finding that surprised even the team's sceptics.",
    "The study, which combined satellite images with forty years of field notes kept by local guides, found that "
    "the ice front moved back almost two kilometres between 2007 and 2016.",
    "Dr. Maria Lund, who led the work, said the guides' notebooks were the key: they recorded the position of "
    "the ice every spring, long before satellites could see the valley through its persistent cloud cover.",
    "Other scientists cautioned that a single glacier says little about the region as a whole, but agreed that "
    "the method could be used elsewhere, wherever written records of the ice exist.",
]

ARTICLE = f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <title>Glacier retreat speeds up, study finds | Example News</title>
  <meta property="og:title" content="Glacier retreat speeds up, study finds">
  <meta name="author" content="Jane Doe">
  <meta property="article:published_time" content="2017-03-14T09:30:00Z">
  <meta name="description" content="A decade of fast retreat, measured with guides' notebooks.">
</head>
<body>
  <header><nav><ul>
    <li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/subscribe">Subscribe now</a></li>
  </ul></nav></header>
  <main><article>
    <h1>Glacier retreat speeds up, study finds</h1>
    <p class="byline">By Jane Doe, March 14, 2017</p>
    {"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
  </article>
  <section id="comments" class="comments">
    <h2>Comments</h2>
    <div class="comment"><p>Totally fake news, the glacier looked fine when I visited it in the summer.</p></div>
  </section></main>
  <footer><p>Copyright 2017 Example News Corporation. All rights reserved.</p>
    <a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a></footer>
</body>
</html>
"""

WESTERN = "The café’s “naïve” résumé — it’s 12 € or £10."
RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей же чаю."
JAPANESE = "これは日本語のテキストです。東京は日本の首都です。"


def _page(text: str, head: str = "") -> str:
    return f"<html><head>{head}<title>t</title></head><body><p>{text}</p></body></html>"


# --- decoding -----------------------------------------------------------------------------------


def test_header_charset_that_fits_the_bytes_is_used():
    text, charset = decode_html(_page(RUSSIAN).encode("cp1251"), "windows-1251")
    assert (RUSSIAN in text, charset) == (True, "cp1251")


def test_header_that_says_utf8_over_cp1252_bytes_does_not_win():
    text, charset = decode_html(_page(WESTERN).encode("cp1252"), "utf-8")
    assert (WESTERN in text, charset) == (True, "cp1252")


@pytest.mark.parametrize("label", ["ISO-8859-1", "latin1", "us-ascii", "ascii"])
def test_header_latin1_means_windows_1252_as_in_browsers(label):
    text, charset = decode_html(_page(WESTERN).encode("cp1252"), label)
    assert (WESTERN in text, charset) == (True, "cp1252")
    assert decode_html(b"<p>\x93quoted\x94</p>", label) == ("<p>\u201cquoted\u201d</p>", "cp1252")


@pytest.mark.parametrize("label", ["cp500", "ibm037", "utf-32", "latin-1"])
@pytest.mark.parametrize("where", ["header", "meta"])
def test_labels_browsers_do_not_know_count_as_none(label, where):
    """Browsers know the WHATWG Encoding Standard's labels only: an EBCDIC label on an ASCII page is no
    reason to read it as EBCDIC (and lose it as no_text)."""
    html = ARTICLE.replace('<meta charset="utf-8">', f'<meta charset="{label}">' if where == "meta" else "")
    result = extract_page(html.encode("ascii"), label if where == "header" else None, URL)
    assert isinstance(result, Extracted)
    assert (PARAGRAPHS[0] in result.text, result.charset) == (True, "utf-8")


@pytest.mark.parametrize(
    ("label", "content", "codec"),
    [
        ("iso-8859-8-i", "שלום עולם, מה שלומך היום?", "iso8859-8"),  # a label Python does not know
        ("csisolatin5", "Fiyatı 10 €, “güzel” değil mi?", "cp1254"),  # ISO-8859-9 to Python
    ],
)
def test_whatwg_labels_mean_what_they_mean_to_browsers(label, content, codec):
    text, charset = decode_html(_page(content).encode(codec), label)
    assert (content in text, charset) == (True, codec)


def test_valid_utf8_beats_a_legacy_header():
    """Servers that default to ISO-8859-1 while the page is UTF-8 are common."""
    text, charset = decode_html(_page(WESTERN).encode("utf-8"), "iso-8859-1")
    assert (WESTERN in text, charset) == (True, "utf-8")


@pytest.mark.parametrize(
    ("head", "content", "codec", "expected"),
    [
        ('<meta charset="windows-1251">', RUSSIAN, "cp1251", "cp1251"),
        (
            '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">',
            JAPANESE,
            "cp932",
            "cp932",
        ),
        ("<meta charset='koi8-r'>", RUSSIAN, "koi8_r", "koi8-r"),
    ],
)
def test_meta_charset_when_there_is_no_header(head, content, codec, expected):
    text, charset = decode_html(_page(content, head).encode(codec), None)
    assert (content in text, charset) == (True, expected)


def test_meta_cannot_claim_utf16():
    text, charset = decode_html(_page(WESTERN, '<meta charset="utf-16">').encode("utf-8"), None)
    assert (WESTERN in text, charset) == (True, "utf-8")


def test_no_declaration_and_cp1252_bytes():
    """charset_normalizer alone calls short English text cp1250 ("naďve"); browsers' windows-1252 wins."""
    text, charset = decode_html(_page(WESTERN).encode("cp1252"), None)
    assert (WESTERN in text, charset) == (True, "cp1252")


def test_no_declaration_and_undeclared_cyrillic_is_guessed():
    text, charset = decode_html(_page(RUSSIAN * 3).encode("cp1251"), None)
    assert (RUSSIAN in text, charset) == (True, "cp1251")


def test_bom_beats_the_header():
    text, charset = decode_html(b"\xef\xbb\xbf" + _page(WESTERN).encode("utf-8"), "windows-1252")
    assert (text.startswith("<html>"), WESTERN in text, charset) == (True, True, "utf-8")


@pytest.mark.parametrize(("codec", "name"), [("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")])
def test_utf16_with_bom(codec, name):
    body = "\ufeff".encode(codec) + _page(JAPANESE).encode(codec)
    text, charset = decode_html(body, None)
    assert (text.startswith("<html>"), JAPANESE in text, charset) == (True, True, name)


@pytest.mark.parametrize("label", ["base64", "utf-7", "x-no-such-charset", "", "\x00"])
def test_labels_that_are_not_web_charsets_are_ignored(label):
    assert decode_html(_page(WESTERN).encode("utf-8"), label) == (_page(WESTERN), "utf-8")


@given(body=st.binary(max_size=300), label=st.one_of(st.none(), st.text(max_size=20)))
def test_decoding_never_raises(body, label):
    text, charset = decode_html(body, label)
    assert isinstance(text, str) and charset


# --- extraction ---------------------------------------------------------------------------------


def test_article_keeps_main_text_and_drops_boilerplate():
    result = extract_page(ARTICLE.encode("utf-8"), "utf-8", URL)
    assert isinstance(result, Extracted)
    for paragraph in PARAGRAPHS:
        assert paragraph in result.text
    for boilerplate in ("Subscribe now", "fake news", "All rights reserved", "Privacy policy"):
        assert boilerplate not in result.text
    assert result.title == "Glacier retreat speeds up, study finds"
    assert result.date == "2017-03-14"
    assert result.author == "Jane Doe"
    assert result.description == "A decade of fast retreat, measured with guides' notebooks."
    assert (result.html_lang, result.charset) == ("en-GB", "utf-8")


def test_extracted_text_of_a_cp1252_page_is_decoded_right():
    body = ARTICLE.replace('<meta charset="utf-8">', "").replace("sceptics.", f"sceptics. {WESTERN}")
    result = extract_page(body.encode("cp1252"), "utf-8", URL)
    assert (WESTERN in result.text, result.charset) == (True, "cp1252")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body></body></html>",
        b"<html><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav></body></html>",
        bytes(range(256)) * 4,
    ],
)
def test_pages_without_text(body):
    assert extract_page(body, None, URL) == NO_TEXT


def test_too_large_pages_are_skipped_before_parsing():
    config = ExtractConfig(max_html_bytes=1000)
    assert extract_page(ARTICLE.encode("utf-8"), "utf-8", URL, config) == TOO_LARGE
    with Extractor(config) as extractor:
        assert extractor.extract(ARTICLE.encode("utf-8"), "utf-8", URL) == TOO_LARGE
        assert extractor.worker_pid is None  # no child was needed


def test_reasons_are_listed():
    assert {NO_TEXT, TOO_LARGE, TIMEOUT, WORKER_CRASH} <= set(EXTRACT_REASONS)
    assert len(set(EXTRACT_REASONS)) == len(EXTRACT_REASONS)


# --- the child process --------------------------------------------------------------------------

PAGES = [
    (ARTICLE.encode("utf-8"), "utf-8", URL),
    (ARTICLE.replace('<meta charset="utf-8">', "").encode("cp1252"), None, URL),
    (_page(RUSSIAN * 20, '<meta charset="windows-1251">').encode("cp1251"), None, "https://example.ru/"),
    (b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "utf-8", URL),
]

# Genuinely slow for trafilatura: seconds of work for 1.4 MB of small nested blocks, no test hook.
SLOW_PAGE = (
    b"<html><body>" + b"<div><p>Some words here in a paragraph of text that goes on.</p></div>" * 20_000
)


def _assert_reaped(pid: int) -> None:
    """Not running and not a zombie: the parent has already waited for it."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_extractor_gives_the_same_results_as_extract_page():
    with Extractor() as extractor:
        assert [extractor.extract(*page) for page in PAGES] == [extract_page(*page) for page in PAGES]


def test_a_page_over_the_time_limit_is_killed_and_the_next_one_works():
    with Extractor(ExtractConfig(time_limit=0.5)) as extractor:
        assert isinstance(extractor.extract(*PAGES[0]), Extracted)  # the child is up
        first_pid = extractor.worker_pid
        started = time.monotonic()
        assert extractor.extract(SLOW_PAGE, "utf-8", URL) == TIMEOUT
        assert time.monotonic() - started < 2.0
        _assert_reaped(first_pid)
        assert extractor.extract(*PAGES[0]) == extract_page(*PAGES[0])
        assert extractor.worker_pid not in (None, first_pid)


def test_a_crashed_child_is_reported_then_replaced():
    with Extractor() as extractor:
        assert isinstance(extractor.extract(*PAGES[0]), Extracted)
        first_pid = extractor.worker_pid
        os.kill(first_pid, signal.SIGKILL)  # what the OOM killer does
        assert extractor.extract(*PAGES[0]) == WORKER_CRASH
        _assert_reaped(first_pid)
        assert extractor.extract(*PAGES[0]) == extract_page(*PAGES[0])
        assert extractor.worker_pid != first_pid


def test_the_child_is_restarted_after_max_documents():
    with Extractor(ExtractConfig(max_documents_per_worker=2)) as extractor:
        pids = []
        for page in PAGES[:3]:
            extractor.extract(*page)
            pids.append(extractor.worker_pid)
        assert pids[0] == pids[1] != pids[2]
        _assert_reaped(pids[0])


def test_close_leaves_no_zombie_and_the_extractor_can_be_reused():
    extractor = Extractor()
    extractor.extract(*PAGES[0])
    pid = extractor.worker_pid
    extractor.close()
    assert extractor.worker_pid is None
    _assert_reaped(pid)
    extractor.close()  # twice is fine
    assert isinstance(extractor.extract(*PAGES[0]), Extracted)
    pid = extractor.worker_pid
    extractor.close()
    _assert_reaped(pid)
