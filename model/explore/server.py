"""The explorer's HTTP side: the static page and the JSON API, on the standard library's threading server.

Every request is checked before the model sees it: a bounded body, JSON objects with known fields only,
knobs in range; a refusal is a 4xx with {"error": message}. Static files are served from static/ only.
"""

from __future__ import annotations

import json
import math
import mimetypes
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from model.explore.engine import MAX_NEW_TOKENS, MAX_TEXT_CHARS, MAX_TOP_K, Explorer, RequestError

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 4 * MAX_TEXT_CHARS + 4096  # the text as UTF-8 at most, and the knobs

# Field -> (type, default, check, what the check wants); None: required.
TEXT = {"text": (str, None, lambda v: len(v) <= MAX_TEXT_CHARS, f"at most {MAX_TEXT_CHARS:,} characters")}
KNOBS = {
    "temperature": (float, 1.0, lambda v: 0 < v <= 100 and math.isfinite(v), "in (0, 100]"),
    "top_k": (int, 0, lambda v: v >= 0, ">= 0 (0: off)"),
    "top_p": (float, 1.0, lambda v: 0 < v <= 1, "in (0, 1] (1: off)"),
}
FIELDS = {
    "/api/next": {**TEXT, **KNOBS, "k": (int, 10, lambda v: 1 <= v <= MAX_TOP_K, f"in [1, {MAX_TOP_K}]")},
    "/api/score": TEXT,
    "/api/generate": {
        **TEXT,
        **KNOBS,
        "max_tokens": (int, 20, lambda v: 1 <= v <= MAX_NEW_TOKENS, f"in [1, {MAX_NEW_TOKENS}]"),
        "seed": (int, None, lambda v: True, "an integer or null"),
    },
}
OPTIONAL = {"seed"}  # fields that may be null


def parse_request(path: str, body: bytes) -> dict:
    """The keyword arguments of the Explorer method behind path, from a JSON body; RequestError if not."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RequestError(f"the body is not JSON: {error}") from None
    if not isinstance(request, dict):
        raise RequestError("the body must be a JSON object")
    fields = FIELDS[path]
    unknown = sorted(set(request) - set(fields))
    if unknown:
        raise RequestError(f"unknown fields {unknown}; {path} takes {sorted(fields)}")
    arguments = {}
    for name, (kind, default, check, wants) in fields.items():
        value = request.get(name, default)
        if value is None and name in OPTIONAL:
            arguments[name] = None
            continue
        if value is None:
            raise RequestError(f"{name!r} is required")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RequestError(f"{name!r} must be {'a number' if kind is float else kind.__name__}")
        if not check(value):
            raise RequestError(f"{name!r} must be {wants}, got {value!r}")
        arguments[name] = value
    return arguments


def make_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server (not yet serving) for explorer's page and API at host:port (port 0: a free one)."""
    methods = {"/api/next": explorer.next, "/api/score": explorer.score, "/api/generate": explorer.generate}

    class Handler(BaseHTTPRequestHandler):
        server_version = "webtext-explore"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/api/info":
                return self._json(HTTPStatus.OK, explorer.info())
            file = (STATIC / ("index.html" if path == "/" else path.lstrip("/"))).resolve()
            if not file.is_relative_to(STATIC) or not file.is_file():
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})
            data = file.read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path not in methods:
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such API: POST {self.path}"})
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "a Content-Length is required"})
            if not 0 <= length <= MAX_BODY_BYTES:
                return self._json(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    {"error": f"the body is over {MAX_BODY_BYTES:,} bytes"},
                )
            try:
                answer = methods[self.path](**parse_request(self.path, self.rfile.read(length)))
            except RequestError as error:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            self._json(HTTPStatus.OK, answer)

        def _json(self, status: HTTPStatus, answer: dict) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            """Quiet: a page typing a sentence makes a request a keystroke."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
