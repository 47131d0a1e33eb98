"""``python _probe.py MODE HOST PORT UID [ARG]``: one client call from inside a namespace, as UID.

Modes: ``line`` (connect, print the first line the server sends), ``http`` (GET ARG with
``Host: HOST:PORT``, print ``{"status": N, "body": ...}``), ``tls`` (TLS handshake with SNI
ARG, trusting the CA file in ``$PROBE_CA``, print the server's first line), ``h2c`` (HTTP/2
with prior knowledge: GET ARG with ``:authority`` HOST:PORT, print ``{"status": N, "body": ...}``).  On failure
prints ``{"error": ...}``.  Drops to UID before connecting, so iptables' owner match sees it.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401 (imported before dropping to UID: the interpreter may be unreadable then)
import json
import os
import socket
import ssl
import sys

import h2.config  # imported before dropping to UID (as above)
import h2.connection
import h2.events


def _read_line(sock: socket.socket | ssl.SSLSocket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def _h2c_get(sock: socket.socket, authority: str, path: str) -> str:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", authority), (":path", path)],
                      end_stream=True)  # fmt: skip
    sock.sendall(conn.data_to_send())
    status, body = 0, b""
    while data := sock.recv(65536):
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                return json.dumps({"status": status, "body": body.decode("latin-1")})
        sock.sendall(conn.data_to_send())
    return json.dumps({"error": "closed before the response ended"})


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
            if mode == "h2c":
                return _h2c_get(sock, f"{host}:{port}", arg)
            assert context is not None
            with context.wrap_socket(sock, server_hostname=arg) as tls:
                return _read_line(tls) or json.dumps({"error": "closed without a reply"})
    except (OSError, ssl.SSLError) as e:
        return json.dumps({"error": str(e)})


if __name__ == "__main__":
    a = sys.argv[1:]
    print(main(a[0], a[1], int(a[2]), int(a[3]), a[4] if len(a) > 4 else ""))
