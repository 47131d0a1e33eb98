"""A UDP echo server, and a client that reaches it through the mesh.

Server (default): listens on ``$POD_IP:$PORT`` (default 9053, UDP) and answers every
datagram with ``<ECHO_NAME> <datagram>`` (``ECHO_NAME`` defaults to the pod name).

Client (``--client SERVICE``): sends ``hello <n>`` to ``$<SERVICE>_SERVICE_HOST:$<SERVICE>_SERVICE_PORT``
(with ``--isolation netns`` the service's virtual IP, captured to the sidecar; with loopback
isolation the sidecar's UDP listener) at ``RATE`` per second from one socket (one mesh
session), and prints ``ok <answer>`` or ``no answer`` per datagram (an answer must come
within ``TIMEOUT`` seconds, default 1).  A datagram the mesh denies gets no answer: UDP has
no refusal to send back.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from smi.demo.tcpecho import env_name


def serve() -> int:
    host = os.environ.get("POD_IP", "0.0.0.0")
    port = int(os.environ.get("PORT", "9053"))
    name = os.environ.get("ECHO_NAME") or os.environ.get("POD_NAME", "udpecho")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        print(f"udpecho listening on {host}:{port}/udp", flush=True)
        while True:
            data, peer = sock.recvfrom(65536)
            sock.sendto(f"{name} {data.decode('utf-8', 'replace')}".encode(), peer)


def exchange(sock: socket.socket, address: tuple[str, int], text: str) -> str | None:
    """Send ``text``; the answer, or None when none comes within the socket's timeout."""
    sock.sendto(text.encode(), address)
    try:
        return sock.recvfrom(65536)[0].decode("utf-8", "replace")
    except TimeoutError:
        return None


def client(service: str) -> int:
    address = (os.environ[f"{env_name(service)}_SERVICE_HOST"], int(os.environ[f"{env_name(service)}_SERVICE_PORT"]))
    rate = float(os.environ.get("RATE", "2"))
    count = int(os.environ.get("COUNT", "0"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(float(os.environ.get("TIMEOUT", "1")))
        n = 0
        while count == 0 or n < count:
            n += 1
            answer = exchange(sock, address, f"hello {n}")
            print(f"ok {answer}" if answer is not None else "no answer", flush=True)
            time.sleep(1.0 / rate if rate > 0 else 0)  # pacing the load, not synchronisation
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if len(argv) >= 2 and argv[0] == "--client":
            return client(argv[1])
        return serve()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
