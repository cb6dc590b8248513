"""The child process behind `webtext.extractor.Extractor`: framed requests on stdin, answers on stdout.

The first message is the ExtractConfig, answered with "ready"; then each (body, header charset, url)
is answered with extract_page's result. End of input (the parent closed the pipe or died) ends it.
"""

from __future__ import annotations

import logging
import os
import sys

from webtext.extract import extract_page
from webtext.extractor import encode_frame, read_frame


def main() -> None:
    # Keep stdout for the protocol alone: a library that prints must not corrupt a frame.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    # trafilatura warns for every page it discards; the parent counts those as reasons instead.
    for name in ("trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    requests = sys.stdin.buffer
    config = read_frame(requests)
    if config is None:
        return
    replies.write(encode_frame("ready"))
    replies.flush()
    while (request := read_frame(requests)) is not None:
        body, header_charset, url = request
        replies.write(encode_frame(extract_page(body, header_charset, url, config)))
        replies.flush()


if __name__ == "__main__":
    main()
