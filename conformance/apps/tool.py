"""The conformance tool: a client workload that makes requests *from inside the mesh*.

It runs as a Deployment (so it has a sidecar and the Deployment's ServiceAccount identity),
and does, on request of a driver, what ``curl`` or ``nc`` would do in that pod:

* ``fetch``: HTTP requests to a URL through the pod's sidecar (the ``HTTP_PROXY`` the local
  runtime sets, or the iptables capture of a cluster), answering
  ``{"results": [{"status", "body", "error"}, ...]}``.  ``status`` 0 means no HTTP answer at
  all (refused, reset), with the reason in ``error``.
* ``tcp``: one line to a TCP service, reached the Kubernetes way through
  ``$<SVC>_SERVICE_HOST`` / ``$<SVC>_SERVICE_PORT[_<PORT NAME>]``, answering
  ``{"reply": <line> | null, "error"}`` (``null``: refused or closed without an answer).
* ``tls``: a TLS handshake (no verification) with an address, ``{"reply", "certificate_sha256", "error"}``:
  which certificate answered shows whether TLS went end to end.
* ``udp``: one datagram to a UDP service (same variables), ``{"reply": <datagram> | null, "error"}``
  (``null``: no answer within 2 s; a datagram the mesh denies is dropped, never answered).

Two ways to ask: ``serve`` (the default: an HTTP server on ``$POD_IP:$PORT`` with
``GET /fetch?url=&method=&header=Name:value&count=`` and ``GET /tcp?service=&port_name=&payload=``,
which the local driver calls directly on the pod address, outside the mesh), and the same as
commands (``python -m conformance.apps.tool fetch URL ...``, printing the JSON), which the
kube driver runs with ``kubectl exec``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from conformance.apps.listening import serve_http
from smi.demo.tcpecho import env_name, exchange
from smi.demo.udpecho import exchange as udp_exchange

TIMEOUT = 10.0
MAX_COUNT = 500


def fetch_once(url: str, *, method: str, headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """One request through the environment's proxy settings (``HTTP_PROXY``/``NO_PROXY``)."""
    request = urllib.request.Request(url, method=method, headers=dict(headers))
    if method in ("POST", "PUT", "PATCH"):
        request.data = b""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return {"status": response.status, "body": response.read().decode("utf-8", "replace"), "error": None}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read().decode("utf-8", "replace"), "error": None}
    except (urllib.error.URLError, OSError) as exc:
        return {"status": 0, "body": "", "error": f"{type(exc).__name__}: {exc}"}


def fetch(url: str, *, method: str = "GET", headers: Sequence[tuple[str, str]] = (), count: int = 1) -> dict[str, Any]:
    count = max(1, min(count, MAX_COUNT))
    return {"results": [fetch_once(url, method=method, headers=headers) for _ in range(count)]}


def tcp(service: str, *, payload: str, port_name: str = "") -> dict[str, Any]:
    """Send ``payload`` + newline to the service; the first line back, or ``None``."""
    prefix = env_name(service)
    host = os.environ.get(f"{prefix}_SERVICE_HOST")
    port = os.environ.get(f"{prefix}_SERVICE_PORT_{env_name(port_name)}" if port_name else f"{prefix}_SERVICE_PORT")
    if not host or not port:
        return {"reply": None, "error": f"no {prefix}_SERVICE_HOST/PORT in this pod's environment"}
    try:
        text = exchange(host, int(port), payload, timeout=TIMEOUT)
    except OSError as exc:
        return {"reply": None, "error": f"{type(exc).__name__}: {exc}"}
    return {"reply": text or None, "error": None if text else "closed without an answer"}


def udp(service: str, *, payload: str, timeout: float = 2.0) -> dict[str, Any]:
    """One datagram to the service (``$<SVC>_SERVICE_HOST/PORT``); the answer, or ``None`` within ``timeout``."""
    prefix = env_name(service)
    host, port = os.environ.get(f"{prefix}_SERVICE_HOST"), os.environ.get(f"{prefix}_SERVICE_PORT")
    if not host or not port:
        return {"reply": None, "error": f"no {prefix}_SERVICE_HOST/PORT in this pod's environment"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            answer = udp_exchange(sock, (host, int(port)), payload)
        except OSError as exc:
            return {"reply": None, "error": f"{type(exc).__name__}: {exc}"}
    return {"reply": answer, "error": None if answer is not None else "no answer"}


def tls(address: str, *, server_name: str) -> dict[str, Any]:
    """A TLS handshake with ``address`` (``ip:port``), SNI ``server_name``, no verification: the first
    line the server sends and the SHA-256 of the certificate it presented (which endpoint answered)."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as conn,
        ):
            certificate = conn.getpeercert(binary_form=True) or b""
            line = conn.makefile("rb").readline().decode("utf-8", "replace").strip()
    except (OSError, ValueError) as exc:
        return {"reply": None, "certificate_sha256": None, "error": f"{type(exc).__name__}: {exc}"}
    digest = hashlib.sha256(certificate).hexdigest()
    return {"reply": line or None, "certificate_sha256": digest, "error": None}


def _parse_header(text: str) -> tuple[str, str]:
    name, _, value = text.partition(":")
    return name.strip(), value.strip()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)

        def one(name: str, default: str = "") -> str:
            return query.get(name, [default])[0]

        if parsed.path == "/fetch" and one("url"):
            answer = fetch(
                one("url"),
                method=one("method", "GET"),
                headers=[_parse_header(h) for h in query.get("header", [])],
                count=int(one("count", "1")),
            )
            self._send(200, answer)
        elif parsed.path == "/tcp" and one("service"):
            self._send(200, tcp(one("service"), payload=one("payload", "ping"), port_name=one("port_name")))
        elif parsed.path == "/udp" and one("service"):
            self._send(200, udp(one("service"), payload=one("payload", "ping")))
        elif parsed.path == "/tls" and one("address"):
            self._send(200, tls(one("address"), server_name=one("sni", "outside.example")))
        elif parsed.path == "/healthz":
            self._send(200, {"ok": True})
        else:
            self._send(400, {"error": "use /fetch?url=... or /tcp?service=..."})

    def _send(self, status: int, answer: dict[str, Any]) -> None:
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def serve() -> int:
    return serve_http(_Handler, what="conformance tool")


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    parser = argparse.ArgumentParser(prog="python -m conformance.apps.tool", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="answer /fetch and /tcp over HTTP (the default)")
    fetching = commands.add_parser("fetch", help="make HTTP requests through the mesh, print JSON")
    fetching.add_argument("url")
    fetching.add_argument("--method", default="GET")
    fetching.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    fetching.add_argument("--count", type=int, default=1)
    talking = commands.add_parser("tcp", help="send a line to a TCP service through the mesh, print JSON")
    talking.add_argument("service")
    talking.add_argument("--payload", default="ping")
    talking.add_argument("--port-name", default="")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        headers = [_parse_header(h) for h in args.header]
        print(json.dumps(fetch(args.url, method=args.method, headers=headers, count=args.count)))
        return 0
    if args.command == "tcp":
        print(json.dumps(tcp(args.service, payload=args.payload, port_name=args.port_name)))
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main())
