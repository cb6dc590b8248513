"""Which submitted links WebText keeps, and the one canonical form of a URL.

The paper: "all outbound links from Reddit which received at least 3 karma", no links after Dec 2017,
Wikipedia removed. Unlike OpenWebText, WebText kept github, google and ebay; so do we. Every rule
is a field of `LinkRules`, and every rejected link has a reason.
"""

from __future__ import annotations

import functools
import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from webtext.submissions import Submission

REDDIT_HOSTS = frozenset(
    {"reddit.com", "redd.it", "redditmedia.com", "reddituploads.com", "redditstatic.com", "reddit.app.link"}
)
"""Reddit itself: links to other threads, and its image/video hosting (i.redd.it, v.redd.it, ...)."""

MEDIA_HOSTS = frozenset(
    {
        "imgur.com", "gfycat.com", "giphy.com", "redgifs.com", "tenor.com", "youtube.com", "youtu.be",
        "vimeo.com", "streamable.com", "twitch.tv", "dailymotion.com", "liveleak.com", "soundcloud.com",
        "spotify.com", "instagram.com", "flickr.com", "flic.kr", "500px.com", "deviantart.com", "pinterest.com",
    }
)  # fmt: skip
"""Hosts whose pages are images, video or audio: no document text to extract."""

WIKIPEDIA_HOSTS = frozenset({"wikipedia.org", "wikimedia.org"})

NON_DOCUMENT_EXTENSIONS = frozenset(
    {
        # images
        "jpg", "jpeg", "png", "gif", "gifv", "webp", "bmp", "tif", "tiff", "svg", "ico", "heic",
        # audio and video
        "mp3", "wav", "ogg", "flac", "m4a", "mp4", "m4v", "webm", "mov", "avi", "mkv", "wmv", "flv",
        # archives and disk images
        "zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz", "iso", "dmg",
        # executables and packages
        "exe", "msi", "apk", "deb", "rpm", "bin", "jar",
        # binary documents (no HTML to extract from)
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "epub",
    }
)  # fmt: skip

TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ref_src",
    }
)
TRACKING_PREFIXES = ("utm_",)

_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_ESCAPE = re.compile(r"%[0-9a-f]{2}", re.IGNORECASE)

# Reasons a submission's link is dropped; each is a counter in the pipeline's stats.
SELF_POST = "self_post"
NO_URL = "no_url"
INVALID_URL = "invalid_url"
REDDIT_HOSTED = "reddit_hosted"
LOW_SCORE = "low_score"
OVER_18 = "over_18"
BEFORE_WINDOW = "before_window"
AFTER_WINDOW = "after_window"
BLOCKED_SUBREDDIT = "blocked_subreddit"
NON_DOCUMENT_EXTENSION = "non_document_extension"
MEDIA_HOST = "media_host"
BLOCKED_HOST = "blocked_host"
WIKIPEDIA = "wikipedia"
LINK_REASONS = (
    SELF_POST, NO_URL, INVALID_URL, REDDIT_HOSTED, LOW_SCORE, OVER_18, BEFORE_WINDOW, AFTER_WINDOW,
    BLOCKED_SUBREDDIT, NON_DOCUMENT_EXTENSION, MEDIA_HOST, BLOCKED_HOST, WIKIPEDIA,
)  # fmt: skip


@dataclass(frozen=True)
class LinkRules:
    """The selection rules; the defaults are the paper's (no date window: set `before` for that)."""

    min_score: int = 3
    """Minimum Reddit karma of a submission (the paper: at least 3)."""
    allow_over_18: bool = False
    """Keep submissions marked NSFW."""
    after: date | None = None
    """Only submissions created on or after this day (UTC)."""
    before: date | None = None
    """Only submissions created before this day (UTC); 2018-01-01 reproduces the paper."""
    blocked_subreddits: frozenset[str] = frozenset()
    """Subreddits whose links are skipped (matched lowercase)."""
    keep_reddit_hosted: bool = False
    """Keep links to Reddit itself: other threads, i.redd.it images."""
    keep_non_documents: bool = False
    """Keep links ending in image/video/archive/executable extensions."""
    keep_media_hosts: bool = False
    """Keep links to image/video/audio hosts (imgur, youtube, ...)."""
    keep_wikipedia: bool = False
    """Keep Wikipedia links (the paper removed them: its test sets overlap Wikipedia)."""
    blocked_hosts: frozenset[str] = field(default=frozenset(), metadata={"flag": "block-host"})
    """Also drop links to these hosts and their subdomains (reason blocked_host)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocked_subreddits", frozenset(s.lower() for s in self.blocked_subreddits))
        object.__setattr__(self, "blocked_hosts", frozenset(h.lower() for h in self.blocked_hosts))

    @functools.cached_property
    def window(self) -> tuple[int | None, int | None]:
        """(after, before) as Unix times, computed once rather than per submission."""
        return tuple(None if day is None else unix_time(day) for day in (self.after, self.before))


def unix_time(day: date | str) -> int:
    """2018-01-01 (a date or its ISO text) -> its first second, UTC."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def rejection(submission: Submission, rules: LinkRules) -> str | None:
    """Why `submission`'s link is not kept (one of LINK_REASONS), or None to keep it."""
    if submission.is_self:
        return SELF_POST
    if not submission.url:
        return NO_URL
    parts = _split(submission.url)
    if parts is None:
        return INVALID_URL
    host = parts.hostname or ""
    if not rules.keep_reddit_hosted and _on(host, REDDIT_HOSTS):
        return REDDIT_HOSTED
    if submission.score < rules.min_score:
        return LOW_SCORE
    if submission.over_18 and not rules.allow_over_18:
        return OVER_18
    after, before = rules.window
    if after is not None and submission.created_utc < after:
        return BEFORE_WINDOW
    if before is not None and submission.created_utc >= before:
        return AFTER_WINDOW
    if submission.subreddit.lower() in rules.blocked_subreddits:
        return BLOCKED_SUBREDDIT
    if not rules.keep_non_documents and _extension(parts.path) in NON_DOCUMENT_EXTENSIONS:
        return NON_DOCUMENT_EXTENSION
    if not rules.keep_media_hosts and _on(host, MEDIA_HOSTS):
        return MEDIA_HOST
    if _on(host, rules.blocked_hosts):
        return BLOCKED_HOST
    if not rules.keep_wikipedia and _on(host, WIKIPEDIA_HOSTS):
        return WIKIPEDIA
    return None


def canonical_url(url: str) -> str | None:
    """The one spelling of `url` used both as the dedup key and for equality; None if not http(s).

    Lowercase scheme and host, an IPv6 address compressed, no default port, no fragment (but a "#!" one), no
    tracking parameters, the query sorted, `&amp;` unescaped, an empty path as "/", and percent-escapes normalised.
    """
    parts = _split(url.replace("&amp;", "&"))
    if parts is None:
        return None
    try:
        port = parts.port
        if parts.netloc.rpartition("@")[2].startswith("["):
            host = _ipv6_host(parts.hostname)
        else:
            host = parts.hostname.rstrip(".").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    # Escape what must be escaped (spaces, non-ASCII), keep existing escapes, and spell them in capitals.
    path = _ESCAPE.sub(lambda m: m.group().upper(), quote(parts.path, safe=_PATH_SAFE)) or "/"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMETERS and not key.lower().startswith(TRACKING_PREFIXES)
    ]
    # A "#!" fragment is the page itself on AJAX-era sites (twitter.com/#!/user/status/1): keep it.
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((parts.scheme, netloc, path, urlencode(sorted(query)), fragment))


def _ipv6_host(address: str) -> str:
    """A bracketed host as "[compressed address]"; ValueError for what no browser takes for IPv6: an IPvFuture
    address, or a zone ("%25eth0", an interface of the crawling machine)."""
    ip = ipaddress.IPv6Address(address)
    if ip.scope_id is not None:
        raise ValueError(f"an IPv6 zone in a URL: {address}")
    if ip.ipv4_mapped is not None:  # in hex as WHATWG URLs write it (Python from 3.13 writes ::ffff:1.2.3.4)
        high, low = divmod(int(ip.ipv4_mapped), 1 << 16)
        return f"[::ffff:{high:x}:{low:x}]"
    return f"[{ip.compressed}]"


def url_host(url: str) -> str:
    """The lowercase host of a canonical URL."""
    return urlsplit(url).hostname or ""


def _split(url: str):
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts._replace(scheme=parts.scheme.lower())


def _on(host: str, domains: frozenset[str]) -> bool:
    """`host` is one of `domains` or a subdomain of one."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def _extension(path: str) -> str:
    return posixpath.splitext(path.rstrip("/"))[1][1:].lower()


@dataclass(frozen=True)
class Provenance:
    """Every submission that linked one URL, merged in any order to the same value (Beam combines)."""

    submission_ids: tuple[str, ...]
    subreddits: tuple[str, ...]
    score_sum: int
    score_max: int
    first_created_utc: int
    first_submission_id: str
    """The earliest submission (ties: the smallest id): the representative for dedup decisions."""

    @classmethod
    def of(cls, submission: Submission) -> Provenance:
        return cls(
            submission_ids=(submission.id,),
            subreddits=(submission.subreddit,) if submission.subreddit else (),
            score_sum=submission.score,
            score_max=submission.score,
            first_created_utc=submission.created_utc,
            first_submission_id=submission.id,
        )

    def merge(self, other: Provenance) -> Provenance:
        first = min(
            (self.first_created_utc, self.first_submission_id),
            (other.first_created_utc, other.first_submission_id),
        )
        return Provenance(
            submission_ids=tuple(sorted({*self.submission_ids, *other.submission_ids})),
            subreddits=tuple(sorted({*self.subreddits, *other.subreddits})),
            score_sum=self.score_sum + other.score_sum,
            score_max=max(self.score_max, other.score_max),
            first_created_utc=first[0],
            first_submission_id=first[1],
        )
