"""``python _probe.py MODE HOST PORT UID [ARG]``: one client call from inside a namespace, as UID.

Modes: ``line`` (connect, print the first line the server sends), ``http`` (GET ARG with
``Host: HOST:PORT``, print ``{"status": N, "body": ...}``), ``tls`` (TLS handshake with SNI
ARG, trusting the CA file in ``$PROBE_CA``, print the server's first line).  On failure
prints ``{"error": ...}``.  Drops to UID before connecting, so iptables' owner match sees it.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401 (imported before dropping to UID: the interpreter may be unreadable then)
import json
import os
import socket
import ssl
import sys


def _read_line(sock: socket.socket | ssl.SSLSocket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def main(mode: str, host: str, port: int, uid: int, arg: str) -> str:
    context = ssl.create_default_context(cafile=os.environ["PROBE_CA"]) if mode == "tls" else None
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            if mode == "line":
                return _read_line(sock) or json.dumps({"error": "closed without a reply"})
            if mode == "http":
                sock.sendall(f"GET {arg} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                if not data:
                    return json.dumps({"error": "closed without a response"})
                head, _, body = data.partition(b"\r\n\r\n")
                return json.dumps({"status": int(head.split(b" ")[1]), "body": body.decode("latin-1")})
            assert context is not None
            with context.wrap_socket(sock, server_hostname=arg) as tls:
                return _read_line(tls) or json.dumps({"error": "closed without a reply"})
    except (OSError, ssl.SSLError) as e:
        return json.dumps({"error": str(e)})


if __name__ == "__main__":
    a = sys.argv[1:]
    print(main(a[0], a[1], int(a[2]), int(a[3]), a[4] if len(a) > 4 else ""))
