"""A backend with known behaviour for the metrics tests: ``/ok`` answers 200 and ``/fail`` 500,
both after ``DELAY_MS`` milliseconds.  Listens on ``$POD_IP:$PORT``."""

from __future__ import annotations

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(int(os.environ.get("DELAY_MS", "0")) / 1000)  # the known latency under test
        status = 500 if self.path.startswith("/fail") else 200
        body = f"{status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer((os.environ.get("POD_IP", "127.0.0.1"), int(os.environ.get("PORT", "8080"))), _Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
