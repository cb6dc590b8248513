"""Fetching pages: the one type every fetch path (live HTTP, WARC replay) produces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """One HTTP response, fetched live or replayed from a WARC file."""

    url: str
    """The URL that was asked for (the canonical URL from DedupURLs)."""
    final_url: str
    """Where it was answered, after redirects."""
    status: int
    headers: tuple[tuple[str, str], ...]
    """Response headers, in order, names as sent."""
    body: bytes
    """The payload, with transfer and content encodings removed."""
    fetched_at: float
    """Unix time the response arrived."""

    def header(self, name: str) -> str | None:
        """The first header called `name` (any case), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    @property
    def content_type(self) -> str:
        """The media type, lowercase, without parameters ("" if absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, lowercase, or None."""
        for parameter in (self.header("content-type") or "").split(";")[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "charset" and value.strip().strip("\"'"):
                return value.strip().strip("\"'").lower()
        return None
