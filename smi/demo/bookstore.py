"""The demo bookstore: ``GET /books`` answers ``bookstore <version> sold <n>``.

Listens on ``$POD_IP:$PORT`` (defaults ``0.0.0.0:8080``), like a container listening on its
containerPort.  The version comes from ``BOOKSTORE_VERSION`` (``v1`` by default).  Other paths
answer 404 (so route matches can be seen working).
"""

from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from smi.demo._serving import DemoServerMixin

_lock = threading.Lock()
_sold = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    version = os.environ.get("BOOKSTORE_VERSION", "v1")

    def do_GET(self) -> None:
        global _sold
        path = self.path.split("?", 1)[0]
        if path.startswith("/books"):
            with _lock:
                _sold += 1
                sold = _sold
            self._answer(200, f"bookstore {self.version} sold {sold}\n")
        else:
            self._answer(404, f"bookstore {self.version}: no such page {path}\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self._answer(200, f"bookstore {self.version} restocked\n")

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class _Server(DemoServerMixin, ThreadingHTTPServer):
    pass


def main() -> int:
    host = os.environ.get("POD_IP", "0.0.0.0")
    port = int(os.environ.get("PORT", "8080"))
    server = _Server((host, port), _Handler)
    print(f"bookstore {_Handler.version} listening on {host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
