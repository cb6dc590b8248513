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

_WHATWG_ENCODINGS = {
    "utf-8": "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8",
    "cp866": "866 cp866 csibm866 ibm866",
    "iso8859-2": "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2",
    "iso8859-3": "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3",
    "iso8859-4": "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4",
    "iso8859-5": "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988",
    "iso8859-6": "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 iso-8859-6-e "
    "iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    "iso8859-7": "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 iso88597 "
    "iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    "iso8859-8": "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 iso88598 "
    "iso_8859-8 iso_8859-8:1988 visual "
    "csiso88598i iso-8859-8-i logical",  # ISO-8859-8-I: the same bytes, read in logical order
    "iso8859-10": "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    "iso8859-13": "iso-8859-13 iso8859-13 iso885913",
    "iso8859-14": "iso-8859-14 iso8859-14 iso885914",
    "iso8859-15": "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    "iso8859-16": "iso-8859-16",
    "koi8-r": "cskoi8r koi koi8 koi8-r koi8_r",
    "koi8-u": "koi8-ru koi8-u",
    "mac-roman": "csmacintosh mac macintosh x-mac-roman",
    "cp874": "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
    "cp1250": "cp1250 windows-1250 x-cp1250",
    "cp1251": "cp1251 windows-1251 x-cp1251",
    "cp1252": "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 "
    "iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    "cp1253": "cp1253 windows-1253 x-cp1253",
    "cp1254": "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5 "
    "windows-1254 x-cp1254",
    "cp1255": "cp1255 windows-1255 x-cp1255",
    "cp1256": "cp1256 windows-1256 x-cp1256",
    "cp1257": "cp1257 windows-1257 x-cp1257",
    "cp1258": "cp1258 windows-1258 x-cp1258",
    "mac-cyrillic": "x-mac-cyrillic x-mac-ukrainian",
    "gb18030": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk "
    "gb18030",  # GBK: decoded as gb18030, its superset
    "big5hkscs": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    "euc_jp": "cseucpkdfmtjapanese euc-jp x-euc-jp",
    "iso2022_jp": "csiso2022jp iso-2022-jp",
    "cp932": "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    "cp949": "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 "
    "windows-949",
    "utf-16-be": "unicodefffe utf-16be",
    "utf-16-le": "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
}  # fmt: skip
"""Python's codec for each encoding of the WHATWG Encoding Standard, with its labels: the only charsets
browsers know (https://encoding.spec.whatwg.org/#names-and-labels). ISO-8859-1 and ASCII really are
windows-1252 there, Shift_JIS is windows-31j, EUC-KR windows-949, Big5 Big5-HKSCS. Left out, so that such
a label counts as none: "replacement" (ISO-2022-KR, ISO-2022-CN, HZ: a whole page as one U+FFFD, a guard
against script injection) and x-user-defined (bytes over 0x7F as private-use characters), which have no
text to give, and which Python has no codec for."""

_LABELS = {
    label: codecs.lookup(codec).name
    for codec, labels in _WHATWG_ENCODINGS.items()
    for label in labels.split()
}

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
    """The Python codec of a charset label as browsers read it, or None for a label they do not know (cp500,
    utf-7, utf-32, ...), which then counts as no label at all."""
    return _LABELS.get(label.strip().strip("\"'").lower()) if label else None


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
    """One of _GUESS_CANDIDATES (a Python codec name, not a label), or None."""
    try:
        best = charset_normalizer.from_bytes(body, cp_isolation=list(_GUESS_CANDIDATES)).best()
        return codecs.lookup(best.encoding).name if best is not None else None
    except Exception:  # a guess is optional; windows-1252 follows
        return None
