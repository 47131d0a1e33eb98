"""A TLS server outside the mesh (conformance): after each handshake it writes one JSON line.

``python -m conformance.apps.tlsline CERT KEY``: listens on ``$POD_IP:$PORT`` (default
8443) and answers every TLS connection with ``{"server": $WORKLOAD, "sni": <name the client
sent>}``.  A client that sees this server's own certificate and line went through the mesh
untouched (egress passes TLS through; nothing in between terminated it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import sys
import threading


def _remember(sock: ssl.SSLSocket | ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
    sock.sni_seen = name or ""  # type: ignore[union-attr]  # an SSLSocket has a __dict__


def _serve(context: ssl.SSLContext, raw: socket.socket, workload: str) -> None:
    try:
        raw.settimeout(10)
        with context.wrap_socket(raw, server_side=True) as conn:
            line = {"server": workload, "sni": getattr(conn, "sni_seen", "")}
            conn.sendall(json.dumps(line).encode() + b"\n")
    except (OSError, ssl.SSLError):
        pass


def main(cert: str, key: str) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    workload = os.environ.get("WORKLOAD", "tlsline")
    host, port = os.environ.get("POD_IP", "0.0.0.0"), int(os.environ.get("PORT", "8443"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = _remember
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(16)
    print(f"tlsline listening on {host}:{port}", flush=True)
    while True:
        raw, _ = listener.accept()
        threading.Thread(target=_serve, args=(context, raw, workload), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
