"""From a page's bytes to its text the way a browser would decode them, but checking what servers claim:
a declared charset is used only where the bytes bear it out.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE)
PRESCAN_BYTES = 4096
"""How far into a page a <meta charset> (or an <html lang>) is looked for, as browsers prescan it."""

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
    match = _META_CHARSET.search(body, 0, PRESCAN_BYTES)
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
