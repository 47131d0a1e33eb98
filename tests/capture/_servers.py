"""Test hosts for the capture tests, run inside a network namespace (``ip netns exec``).

``python _servers.py http PORT``: answers every HTTP/1.1 request with 200 and a JSON body
``{"host": <Host header>, "path": <target>, "peer": <ip>}``.
``python _servers.py tls PORT CERT KEY``: a TLS server; after the handshake it writes one
JSON line ``{"sni": <server name the client sent>, "peer": <ip>}``.
Each listens on 0.0.0.0:PORT, prints ``ready`` once bound and runs until killed.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading


def _listen(port: int) -> socket.socket:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)
    return listener


def _http(conn: socket.socket, peer: str) -> None:
    with conn:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        host = next((v.strip() for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == "host"), "")
        body = json.dumps({"host": host, "path": lines[0].split(" ")[1], "peer": peer}).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.sendall(head.encode() + body)


def serve_http(port: int) -> None:
    listener = _listen(port)
    print("ready", flush=True)
    while True:
        conn, peer = listener.accept()
        threading.Thread(target=_http, args=(conn, peer[0]), daemon=True).start()


def serve_tls(port: int, cert: str, key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen: dict[int, str] = {}

    def remember(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        seen[id(sock)] = name or ""

    context.sni_callback = remember  # type: ignore[assignment]
    listener = _listen(port)
    print("ready", flush=True)
    while True:
        raw, peer = listener.accept()
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.sendall(json.dumps({"sni": seen.pop(id(conn), ""), "peer": peer[0]}).encode() + b"\n")
        except (OSError, ssl.SSLError):
            continue


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "http":
        serve_http(port)
    else:
        serve_tls(port, sys.argv[3], sys.argv[4])
