"""How the conformance apps listen: an HTTP server on ``$POD_IP:$PORT`` until the process ends.

``POD_IP`` is set by the local runtime (each pod has its own loopback address); in a
cluster it is unset and the app listens on every address of the pod.  ``PORT`` defaults
to 8080.  One line ``<what> listening on <host>:<port>`` goes to stdout once bound.
"""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve_http(handler: type[BaseHTTPRequestHandler], *, what: str) -> int:
    host = os.environ.get("POD_IP", "0.0.0.0")
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    print(f"{what} listening on {host}:{port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    return 0
