"""From a fetched page's bytes to its main text and metadata, with trafilatura, under a time limit.

Three layers: `decode_html` (bytes to str the way a browser would, but checking what servers claim),
`extract_page` (one in-process extraction), and `Extractor` (the same in a child process that can be
killed, because trafilatura can run for minutes on a pathological page, and neither signal.alarm nor
a thread can stop lxml's C code). Bad pages never raise: they come back as a reason string.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
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


# --- decoding -----------------------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE)
_HTML_LANG = re.compile(
    r"""<html\b[^>]*?\blang\s*=\s*["']?\s*([a-z]{1,8}(?:[-_][a-z0-9]{1,8})*)""", re.IGNORECASE
)
_PRESCAN_BYTES = 4096

_WHATWG_LABELS = {
    **dict.fromkeys(
        ("ascii", "us-ascii", "iso-8859-1", "iso8859-1", "iso_8859-1", "iso88591", "latin1", "latin-1", "l1",
         "cp819", "ibm819", "iso-ir-100", "csisolatin1", "x-cp1252", "windows-1252", "cp1252"),
        "cp1252",
    ),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "iso_8859-9", "iso88599", "latin5", "l5", "iso-ir-148"), "cp1254"),
    **dict.fromkeys(("tis-620", "iso-8859-11", "iso8859-11", "dos-874", "windows-874"), "cp874"),
    **dict.fromkeys(("gb2312", "gb_2312", "gb_2312-80", "csgb2312", "chinese", "gbk", "x-gbk", "iso-ir-58"), "gb18030"),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "x-x-big5", "csbig5"), "big5hkscs"),
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "ms932", "windows-31j", "csshiftjis"), "cp932"
    ),
    **dict.fromkeys(
        ("euc-kr", "cseuckr", "korean", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949"),
        "cp949",
    ),
    **dict.fromkeys(("macintosh", "mac", "x-mac-roman", "csmacintosh"), "mac_roman"),
    **dict.fromkeys(("x-mac-cyrillic", "x-mac-ukrainian"), "mac_cyrillic"),
    **dict.fromkeys(("utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"), "utf-8"),
}  # fmt: skip
"""Labels that browsers (the WHATWG Encoding standard) decode differently from Python's codec of
the same name: a page labelled ISO-8859-1 or ASCII really is windows-1252, Shift_JIS is windows-31j."""

_NOT_WEB_CODECS = frozenset(
    {"utf-7", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}
)
"""Codecs Python knows that no browser decodes a page with (utf-7 is a known XSS vector)."""

_GUESS_CANDIDATES = (
    "cp1252", "cp1251", "koi8_r", "koi8_u", "mac_cyrillic", "iso8859_5", "cp1253", "iso8859_7", "cp1255",
    "iso8859_8", "cp1256", "iso8859_6", "cp874", "cp932", "euc_jp", "iso2022_jp", "gb18030", "big5hkscs", "cp949",
)  # fmt: skip
"""What charset_normalizer may guess: windows-1252 is the only Western code page, because on short
English text it picks cp1250 or cp1257 (turning "naïve" into "naďve"), and windows-1252 is what
browsers assume for an undeclared page; the rest are the non-Latin scripts' legacy encodings."""


def decode_html(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """(text, codec used): BOM, then the declared charsets, then UTF-8, a guess, windows-1252.

    A declaration (HTTP header, then <meta> in the first 4 KB) is used only if the bytes decode with
    it strictly, so a header that says UTF-8 over windows-1252 bytes does not win. One exception to
    the order: bytes that are valid UTF-8 and not ASCII are UTF-8 whatever is declared, since legacy
    single-byte codecs decode anything, and servers that default to ISO-8859-1 are common.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace"), codec
    utf8 = _strict(body, "utf-8")
    for codec in (_codec(header_charset), _meta_codec(body)):
        if codec is None:
            continue
        if codec != "utf-8" and utf8 is not None and not body.isascii():
            return utf8, "utf-8"
        text = _strict(body, codec)
        if text is not None:
            return text, codec
    if utf8 is not None:
        return utf8, "utf-8"
    guess = _guess_codec(body)
    if guess is not None:
        return body.decode(guess, "replace"), guess
    return body.decode("cp1252", "replace"), "cp1252"


def _codec(label: str | None) -> str | None:
    """The Python codec a browser would use for a charset label, or None if there is none."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG_LABELS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError, TypeError):
        return None
    return None if name in _NOT_WEB_CODECS else name


def _meta_codec(body: bytes) -> str | None:
    """The codec of a <meta charset> or http-equiv Content-Type in the first 4 KB.

    A <meta> cannot truly say UTF-16 (it would not be readable as ASCII): browsers read that as UTF-8.
    """
    match = _META_CHARSET.search(body, 0, _PRESCAN_BYTES)
    codec = _codec(match.group(1).decode("ascii")) if match else None
    return "utf-8" if codec is not None and codec.startswith("utf-16") else codec


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):  # LookupError: a binary codec such as base64
        return None


def _guess_codec(body: bytes) -> str | None:
    try:
        best = charset_normalizer.from_bytes(body, cp_isolation=list(_GUESS_CANDIDATES)).best()
    except Exception:  # a guess is optional; windows-1252 follows
        return None
    return _codec(best.encoding) if best is not None else None


# --- extraction ---------------------------------------------------------------------------------


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
    lang = _HTML_LANG.search(html, 0, _PRESCAN_BYTES)
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


# --- the killable child -------------------------------------------------------------------------

_FRAME_HEADER = struct.Struct(">Q")
_STARTUP_TIMEOUT = 120.0
"""Seconds a fresh child may take to import trafilatura and report ready (slow disks, busy VMs)."""
_READY = "ready"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def encode_frame(message: object) -> bytes:
    """One message of the parent-child protocol: an 8-byte big-endian length, then a pickle."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME_HEADER.pack(len(payload)) + payload


def read_frame(stream) -> object | None:
    """The next message from a blocking binary stream, or None at end of stream."""
    header = stream.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        return None
    (size,) = _FRAME_HEADER.unpack(header)
    payload = stream.read(size)
    return pickle.loads(payload) if len(payload) == size else None


class Extractor:
    """extract_page in a persistent child process, killed and restarted when a page overruns.

    The child is started lazily with subprocess (fork+exec: safe in Beam workers, which run gRPC
    threads, unlike multiprocessing's fork) and answers one request per page: bytes in, a small
    Extracted out. It decodes too, so the parent only copies bytes. A child whose parent dies sees
    end-of-file on its stdin and exits, so none outlives the pipeline.
    """

    def __init__(self, config: ExtractConfig = ExtractConfig()) -> None:
        self.config = config
        self._process: subprocess.Popen | None = None
        self._served = 0

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def worker_pid(self) -> int | None:
        """The child's process id, None while there is no child (for logs and monitoring)."""
        return self._process.pid if self._process is not None else None

    def extract(self, body: bytes, header_charset: str | None, url: str) -> Extracted | str:
        """An Extracted, or the reason (one of EXTRACT_REASONS) there is none.

        Raises RuntimeError only when a fresh child cannot start at all: a broken installation, which
        no page could cause and which should fail the job loudly.
        """
        if len(body) > self.config.max_html_bytes:
            return TOO_LARGE
        if self._served >= self.config.max_documents_per_worker:
            self.close()
        if self._process is None:
            self._start()
        self._served += 1
        try:
            self._write(encode_frame((body, header_charset, url)))
        except OSError:  # BrokenPipeError: the child is gone
            self._kill()
            return WORKER_CRASH
        payload = self._read_payload(time.monotonic() + self.config.time_limit)
        if isinstance(payload, str):
            self._kill()
            return payload
        return pickle.loads(payload)

    def close(self) -> None:
        """Stop the child: end of input lets it exit; one that does not is killed. Always reaped."""
        process, self._process = self._process, None
        self._served = 0
        if process is None:
            return
        process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, env.get("PYTHONPATH"))))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "webtext.extract_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        self._served = 0
        with contextlib.suppress(OSError):  # a child that died at once is reported below
            self._write(encode_frame(self.config))
        payload = self._read_payload(time.monotonic() + _STARTUP_TIMEOUT)
        if isinstance(payload, str) or pickle.loads(payload) != _READY:
            self._kill()
            raise RuntimeError("webtext.extract_worker did not start; see its stderr above")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._process.stdin.fileno(), view) :]

    def _read_payload(self, deadline: float) -> bytes | str:
        """The child's next pickled message; TIMEOUT past the deadline, WORKER_CRASH if its output ends."""
        header = self._read_exact(_FRAME_HEADER.size, deadline)
        if isinstance(header, str):
            return header
        return self._read_exact(_FRAME_HEADER.unpack(header)[0], deadline)

    def _read_exact(self, size: int, deadline: float) -> bytes | str:
        fd = self._process.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        chunks, remaining = [], size
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return TIMEOUT
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                return WORKER_CRASH
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _kill(self) -> None:
        """Kill and reap the child; the next page starts a fresh one."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()
