"""A line-echo TCP server, and a client that reaches it through the mesh.

Server (default): listens on ``$POD_IP:$PORT`` (default 9000) and answers every line with
``<ECHO_NAME> <line>`` (``ECHO_NAME`` defaults to the pod name).

Client (``--client SERVICE``): connects to ``$<SERVICE>_SERVICE_HOST:$<SERVICE>_SERVICE_PORT``
(the sidecar's forward listener for that TCP service, set by the runtime), sends a numbered
line at ``RATE`` per second on a fresh connection each time, and prints ``ok <answer>`` or
``error <reason>`` per attempt.
"""

from __future__ import annotations

import os
import signal
import socket
import socketserver
import sys
import time

from smi.demo._serving import DemoServerMixin


class _Echo(socketserver.StreamRequestHandler):
    name = os.environ.get("ECHO_NAME") or os.environ.get("POD_NAME", "echo")

    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(f"{self.name} {line.decode('utf-8', 'replace').strip()}\n".encode())


class _Server(DemoServerMixin, socketserver.ThreadingTCPServer):
    pass


def serve() -> int:
    host = os.environ.get("POD_IP", "0.0.0.0")
    port = int(os.environ.get("PORT", "9000"))
    with _Server((host, port), _Echo) as server:
        print(f"tcpecho listening on {host}:{port}", flush=True)
        server.serve_forever(poll_interval=0.2)
    return 0


def env_name(service: str) -> str:
    return service.upper().replace("-", "_").replace(".", "_")


def exchange(host: str, port: int, line: str, *, timeout: float) -> str:
    """Send ``line`` + newline on a fresh connection; the first line back, stripped ("" if none).

    Raises ``OSError`` when the connection fails or breaks.
    """
    data = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(line.encode() + b"\n")
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", "replace").strip()


def client(service: str) -> int:
    host = os.environ[f"{env_name(service)}_SERVICE_HOST"]
    port = int(os.environ[f"{env_name(service)}_SERVICE_PORT"])
    rate = float(os.environ.get("RATE", "5"))
    count = int(os.environ.get("COUNT", "0"))
    n = 0
    while count == 0 or n < count:
        n += 1
        try:
            text = exchange(host, port, f"hello {n}", timeout=3)
            print(f"ok {text}" if text else "error closed", flush=True)
        except OSError as exc:
            print(f"error {type(exc).__name__}: {exc}", flush=True)
        time.sleep(1.0 / rate if rate > 0 else 0)  # pacing the load, not synchronisation
    return 0


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--client":
        return client(args[1])
    return serve()


if __name__ == "__main__":
    sys.exit(main())
