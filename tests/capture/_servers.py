"""Test hosts for the capture tests, run inside a network namespace (``ip netns exec``).

``python _servers.py http PORT``: answers every HTTP/1.1 request with 200 and a JSON body
``{"host": <Host header>, "path": <target>, "peer": <ip>}``.
``python _servers.py tls PORT CERT KEY``: a TLS server; after the handshake it writes one
JSON line ``{"sni": <server name the client sent>, "peer": <ip>}``.
``python _servers.py h2c PORT``: HTTP/2 with prior knowledge only (the ``h2`` package); every
request gets 200 and ``{"proto": "h2", "path": <:path>, "authority": <:authority>}``.
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


def _h2c(conn: socket.socket) -> None:
    import h2.config
    import h2.connection
    import h2.events

    h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    h2conn.initiate_connection()
    heads: dict[int, dict[bytes, bytes]] = {}
    with conn:
        conn.settimeout(10)
        conn.sendall(h2conn.data_to_send())
        while data := conn.recv(65536):
            for event in h2conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    heads[event.stream_id] = {bytes(k): bytes(v) for k, v in event.headers}
                if isinstance(event, h2.events.StreamEnded):
                    head = heads.pop(event.stream_id, {})
                    body = json.dumps({"proto": "h2", "path": head.get(b":path", b"").decode(),
                                       "authority": head.get(b":authority", b"").decode()}).encode()  # fmt: skip
                    h2conn.send_headers(event.stream_id, [(":status", "200"), ("content-length", str(len(body)))])
                    h2conn.send_data(event.stream_id, body, end_stream=True)
            conn.sendall(h2conn.data_to_send())


def serve_h2c(port: int) -> None:
    listener = _listen(port)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_h2c, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "http":
        serve_http(port)
    elif mode == "h2c":
        serve_h2c(port)
    else:
        serve_tls(port, sys.argv[3], sys.argv[4])
