"""`webtext explore`'s engine and server: next-token tables, GLTR scores and samples for a local web page.

`Explorer` answers the JSON API through `model.scoring` and `model.sample`, one request at a time (a lock
around the model); `serve` puts it and the static page behind the standard library's HTTP server.
"""

from model.explore.engine import Explorer, RequestError
from model.explore.server import make_server

__all__ = ["Explorer", "RequestError", "make_server"]
