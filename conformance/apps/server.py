"""The conformance HTTP server: answers every request with who it is and what it received.

Listens on ``$POD_IP:$PORT`` (defaults ``0.0.0.0:8080``).  Every method on every path answers
``200`` with a JSON body ``{"server": $WORKLOAD, "method", "path", "headers"}``, so a
scenario can tell an answer of the app (it names its workload) from an answer the mesh made
itself (a 403 or 404 without that body), and which backend of a split served a request.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler

from conformance.apps.listening import serve_http

WORKLOAD = os.environ.get("WORKLOAD") or os.environ.get("POD_NAME", "server")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(
            {
                "server": WORKLOAD,
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return serve_http(_Handler, what=f"conformance server {WORKLOAD}")


if __name__ == "__main__":
    sys.exit(main())
