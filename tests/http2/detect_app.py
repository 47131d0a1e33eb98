"""A test app that serves five protocols on ports that declare nothing (``python -m tests.http2.detect_app``).

Env: ``HOST`` (bind address), ``NAME`` (in every answer), ``CERT``/``KEY`` (the TLS server's
PEM files) and the ports:

* ``BANNER_PORT``: server speaks first: writes ``220 <NAME> ready`` at once, then echoes lines;
* ``ECHO_PORT``: echoes every byte (an opaque binary protocol);
* ``TLS_PORT``: the app's own TLS; after the handshake it echoes lines;
* ``HTTP_PORT``: HTTP/1.1: 200 with the JSON ``{"name", "path", "proto"}``;
* ``GRPC_PORT``: the grpcio service of ``tests.http2.grpc_app`` (h2c).

Prints ``ready`` once every port is bound; runs until killed.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.http2 import grpc_app


def _listen(host: str, port: int) -> socket.socket:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(64)
    return listener


def _echo(conn: socket.socket | ssl.SSLSocket, first: bytes = b"") -> None:
    with conn:
        conn.settimeout(30)
        try:
            if first:
                conn.sendall(first)
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            return


def _serve(listener: socket.socket, on_conn: Callable[[socket.socket], None]) -> None:
    def loop() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=on_conn, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def main() -> None:
    env = os.environ
    host, name = env.get("HOST", "127.0.0.1"), env.get("NAME", "app")
    _serve(_listen(host, int(env["BANNER_PORT"])), lambda c: _echo(c, f"220 {name} ready\r\n".encode()))
    _serve(_listen(host, int(env["ECHO_PORT"])), _echo)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(env["CERT"], env["KEY"])

    def tls(conn: socket.socket) -> None:
        try:
            wrapped = context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            return
        _echo(wrapped)

    _serve(_listen(host, int(env["TLS_PORT"])), tls)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = json.dumps({"name": name, "path": self.path, "proto": self.request_version}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    http = ThreadingHTTPServer((host, int(env["HTTP_PORT"])), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    _server, _ = grpc_app.serve(host, int(env["GRPC_PORT"]), name)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
