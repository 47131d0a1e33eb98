"""A fault-injecting bookstore: the demo's ``GET /books`` with errors, latency, resets and hangs.

Run as ``python -m smi.demo.flaky`` (the ``demo-flaky`` variant runs bookstore-v2 this way) or
started in-process by tests (:class:`FaultServer`).  Each request draws one random number and
gets, in this order of shares:

=====================  ===========================================  ==========================
env (default)          effect                                       counter
=====================  ===========================================  ==========================
FAULT_ERROR_SHARE (0)  answered ``FAULT_ERROR_STATUS`` (503)        ``errors``
FAULT_RESET_SHARE (0)  the connection is reset, no response         ``resets``
FAULT_HANG_SHARE (0)   no response until the client gives up        ``hangs``
(rest)                 ``200 bookstore <version> sold <n>``         ``ok``
=====================  ===========================================  ==========================

``FAULT_LATENCY_MS`` delays every answer; ``FAULT_SEED`` makes the draws repeatable.  The
server's own view, which tests compare with what the caller saw:

* ``GET /fault/stats`` -> ``{"requests": n, "ok": n, "errors": n, "resets": n, "hangs": n,
  "in_flight": n, "max_in_flight": n}`` (not counted as a request);
* ``PUT /fault/config`` with a JSON object of the shares/latency/status changes them live
  (e.g. ``{"error_share": 1.0}``) and answers the new settings.

Listens on ``$POD_IP:$PORT`` like the bookstore; the standard library plus httptools (already
a dependency of the sidecar), so one process serves thousands of requests per second.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import struct
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import httptools  # type: ignore[import-untyped,unused-ignore]


@dataclass
class Faults:
    error_share: float = 0.0
    error_status: int = 503
    reset_share: float = 0.0
    hang_share: float = 0.0
    latency_ms: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] = os.environ) -> Faults:
        return cls(
            error_share=float(env.get("FAULT_ERROR_SHARE", "0")),
            error_status=int(env.get("FAULT_ERROR_STATUS", "503")),
            reset_share=float(env.get("FAULT_RESET_SHARE", "0")),
            hang_share=float(env.get("FAULT_HANG_SHARE", "0")),
            latency_ms=int(env.get("FAULT_LATENCY_MS", "0")),
        )

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown setting {name!r}")
            setattr(self, name, type(getattr(self, name))(value))


@dataclass
class Stats:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    resets: int = 0
    hangs: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_path: dict[str, int] = field(default_factory=dict)


class FaultServer:
    """The server's state: settings, counters, random source; one per process (or per test)."""

    def __init__(self, faults: Faults, *, version: str = "v2", seed: int | None = None) -> None:
        self.faults = faults
        self.stats = Stats()
        self.version = version
        self.random = random.Random(seed)
        self.sold = 0
        self._server: asyncio.base_events.Server | None = None
        self.connections: set[_Connection] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        address: tuple[str, int] = self._server.sockets[0].getsockname()[:2]
        return address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.abort()
            await self._server.wait_closed()

    def choose(self) -> str:
        draw = self.random.random()
        f = self.faults
        for outcome, share in (("error", f.error_share), ("reset", f.reset_share), ("hang", f.hang_share)):
            if draw < share:
                return outcome
            draw -= share
        return "ok"


class _Connection(asyncio.Protocol):
    def __init__(self, server: FaultServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body = bytearray()
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(400, "bad request\n", close=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        for task in self.tasks:
            task.cancel()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        url, body = self.url, bytes(self.body)
        self.url, self.body = b"", bytearray()
        task = asyncio.get_running_loop().create_task(self._answer(method, url.decode("latin-1"), body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, method: bytes, url: str, body: bytes) -> None:
        server = self.server
        path = url.split("?", 1)[0]
        if path == "/fault/stats":
            self._send(200, json.dumps(asdict(server.stats)), content_type="application/json")
            return
        if path == "/fault/config" and method in (b"PUT", b"POST"):
            try:
                server.faults.update(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                self._send(400, f"{exc}\n")
                return
            self._send(200, json.dumps(asdict(server.faults)), content_type="application/json")
            return
        stats = server.stats
        stats.requests += 1
        stats.by_path[path] = stats.by_path.get(path, 0) + 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            outcome = server.choose()
            if server.faults.latency_ms:
                await asyncio.sleep(server.faults.latency_ms / 1000)
            if outcome == "error":
                stats.errors += 1
                self._send(server.faults.error_status, f"bookstore {server.version}: injected failure\n")
            elif outcome == "reset":
                stats.resets += 1
                self._reset()
            elif outcome == "hang":
                stats.hangs += 1
                await asyncio.Event().wait()  # until the client closes (the task is cancelled then)
            else:
                stats.ok += 1
                server.sold += 1
                what = "restocked" if method == b"POST" else f"sold {server.sold}"
                self._send(200, f"bookstore {server.version} {what}\n")
        finally:
            stats.in_flight -= 1

    def _send(self, status: int, text: str, *, content_type: str = "text/plain", close: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        body = text.encode()
        head = (
            f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
            f"{'connection: close' if close else 'connection: keep-alive'}\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        if close:
            self.transport.close()

    def _reset(self) -> None:
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:  # SO_LINGER 0: close() sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()


async def _serve(host: str, port: int, server: FaultServer) -> None:
    host, port = await server.start(host, port)
    print(f"bookstore {server.version} (flaky: {asdict(server.faults)}) listening on {host}:{port}", flush=True)
    await asyncio.Event().wait()


def main() -> int:
    host = os.environ.get("POD_IP", "0.0.0.0")
    port = int(os.environ.get("PORT", "8080"))
    seed = os.environ.get("FAULT_SEED")
    try:
        faults = Faults.from_env()
    except ValueError as exc:
        print(f"flaky bookstore: bad FAULT_* setting: {exc}", file=sys.stderr)
        return 2
    server = FaultServer(faults, version=os.environ.get("BOOKSTORE_VERSION", "v2"), seed=int(seed) if seed else None)
    try:
        asyncio.run(_serve(host, port, server))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"flaky bookstore: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
