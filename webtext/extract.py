"""From a fetched page's bytes to its main text and metadata, with trafilatura tuned for precision.

`extract_page` runs in this process with no time limit; `webtext.extractor.Extractor` runs it in a child
that can be killed. Bad pages never raise: they come back as a reason string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import trafilatura
from htmldate import find_date
from htmldate.core import examine_header
from htmldate.extractors import extract_url_date, json_search
from htmldate.utils import Extractor as DateOptions
from htmldate.validators import get_max_date, get_min_date
from lxml.html import HtmlElement
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.metadata import Document as TrafilaturaDocument
from trafilatura.settings import set_date_params
from trafilatura.utils import load_html

from webtext.charset import PRESCAN_BYTES, decode_html

# Reasons a page yields no document; each is a counter in the pipeline's stats.
NO_TEXT = "no_text"
EXTRACT_ERROR = "extract_error"
TOO_LARGE = "too_large"
TIMEOUT = "timeout"
WORKER_CRASH = "worker_crash"
EXTRACT_REASONS = (NO_TEXT, EXTRACT_ERROR, TOO_LARGE, TIMEOUT, WORKER_CRASH)


@dataclass(frozen=True)
class ExtractConfig:
    """How trafilatura is run, tuned for precision: WebText wants clean prose, not every scrap.

    `include_tables` is on because until about 2010 many sites laid out whole articles in <table>
    cells, and trafilatura with tables off deletes every table with its contents; boilerplate tables
    (link lists, navigation grids) are still dropped by trafilatura's link-density test. Comments are
    off: GPT-2's WebText extracted article content (Dragnet, Newspaper), not reader discussions.
    """

    favor_precision: bool = True
    """trafilatura's precision mode: less text, less boilerplate."""
    fast: bool = True
    """Skip trafilatura's fallback comparison with readability and jusText: it buys recall (it swaps
    in whichever finds more text), not precision, and costs more than half of the time per page."""
    page_date_search: bool = False
    """When neither the URL nor <meta>/JSON-LD declare a date, let htmldate search the page's elements and
    text: ~5 ms a page (a sixth of extraction) for a date that is often not the publication date."""
    extensive_date_search: bool = False
    """Let htmldate guess a date from free text (through dateparser) when markup, metadata and the URL
    give none: error-prone guesses, and dateparser spends seconds compiling its locales in each
    fresh process, time that would count against the first page's time limit."""
    include_comments: bool = False
    """Keep reader comments below an article."""
    include_tables: bool = True
    """Keep text in <table>s (see above)."""
    time_limit: float = 20.0
    """Seconds one page may take in the Extractor's child before it is killed (reason `timeout`)."""
    max_html_bytes: int = 5_000_000
    """Larger bodies are skipped (reason `too_large`): no article needs 5 MB of HTML, and such pages
    are the ones that run away in lxml."""
    processes: int = 1
    """Extraction children per pipeline worker thread. Dataflow runs many threads per core, each with its
    own children, so 1 already keeps cores busy there; locally, one child per core extracts in parallel."""
    max_documents_per_worker: int = 10_000
    """The Extractor restarts its child after this many pages, bounding memory that lxml and
    trafilatura's caches accumulate."""


@dataclass(frozen=True)
class Extracted:
    """A page's main text and the metadata trafilatura found in the same parse."""

    text: str
    title: str | None
    date: str | None
    """Publication date, ISO 8601 (YYYY-MM-DD)."""
    author: str | None
    sitename: str | None
    description: str | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    pagetype: str | None
    """og:type and the like ("article", "website", ...)."""
    html_lang: str | None
    """The <html lang> attribute, as written, if the page declares one."""
    charset: str
    """The codec the body was decoded with."""


_HTML_LANG = re.compile(
    r"""<html\b[^>]*?\blang\s*=\s*["']?\s*([a-z]{1,8}(?:[-_][a-z0-9]{1,8})*)""", re.IGNORECASE
)


def declared_date(tree: HtmlElement, url: str | None) -> str | None:
    """htmldate's first three steps only: a date in the URL, in <meta> headers, or in JSON-LD."""
    options = DateOptions(False, get_max_date(None), get_min_date(None), True, "%Y-%m-%d")
    return extract_url_date(url, options) or examine_header(tree, options) or json_search(tree, options)


def page_metadata(tree: HtmlElement, url: str, config: ExtractConfig) -> TrafilaturaDocument:
    """trafilatura's metadata without its two costliest searches, which make extraction ~20% slower.

    Title, date (htmldate), site name, description and what <meta> and JSON-LD declare are found as
    trafilatura finds them; an author is taken only from <meta>/JSON-LD (trafilatura also scans the page
    for bylines), categories and tags only from <meta> (it also scans links).
    """
    metadata = extract_meta_json(tree, examine_meta(tree))
    if metadata.author and " " not in metadata.author:  # trafilatura's rule: a lone word is no name
        metadata.author = None
    metadata.title = metadata.title or extract_title(tree)
    metadata.url = metadata.url or extract_url(tree, url or None)
    metadata.date = (
        find_date(tree, **set_date_params(config.extensive_date_search), url=metadata.url)
        if config.page_date_search
        else declared_date(tree, metadata.url)
    )
    metadata.sitename = (metadata.sitename or extract_sitename(tree) or "").lstrip("@") or None
    if metadata.sitename and "." not in metadata.sitename and not metadata.sitename[0].isupper():
        metadata.sitename = metadata.sitename.title()
    elif not metadata.sitename and metadata.url and (host := META_URL.match(metadata.url)):
        metadata.sitename = host[1]
    metadata.clean_and_trim()
    return metadata


def extract_page(
    body: bytes, header_charset: str | None, url: str, config: ExtractConfig = ExtractConfig()
) -> Extracted | str:
    """An Extracted, or the reason (one of EXTRACT_REASONS) there is none; in this process, no limit."""
    if len(body) > config.max_html_bytes:
        return TOO_LARGE
    html, charset = decode_html(body, header_charset)
    try:
        tree = load_html(html)
        if tree is None:
            return NO_TEXT
        document = trafilatura.bare_extraction(
            tree,  # copied inside, so `tree` stays whole for the metadata
            url=url or None,
            favor_precision=config.favor_precision,
            fast=config.fast,
            include_comments=config.include_comments,
            include_tables=config.include_tables,
        )
        text = (document.text or "").strip() if document is not None else ""
        if not text:
            return NO_TEXT
        metadata = page_metadata(tree, url, config)
    except Exception:  # trafilatura catches its own ValueErrors; anything else is lxml or a bug
        return EXTRACT_ERROR
    lang = _HTML_LANG.search(html, 0, PRESCAN_BYTES)
    return Extracted(
        text=text,
        title=metadata.title or None,
        date=metadata.date or None,
        author=metadata.author or None,
        sitename=metadata.sitename or None,
        description=metadata.description or None,
        categories=tuple(metadata.categories or ()),
        tags=tuple(metadata.tags or ()),
        pagetype=metadata.pagetype or None,
        html_lang=lang.group(1) if lang else None,
        charset=charset,
    )
