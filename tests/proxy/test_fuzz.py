"""Fuzz the HTTP request path: arbitrary and mutated request bytes never kill the proxy.

The proxy and a backend run on their own uvloop in a thread; hypothesis drives blocking
sockets against the outbound and inbound listeners.  Afterwards a normal request still
succeeds and the error counters show the rejects.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.running import Proxy
from tests.proxy.harness import Backend, client_config, cluster, ep, running_proxy, service


class Running:
    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.proxy: Proxy | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        backend = await Backend("web", "127.0.0.21").start()
        cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(backend)),))
        async with running_proxy(cfg, inbound=("127.0.0.1", 0)) as proxy:
            self.proxy = proxy
            self.ready.set()
            await self.stop.wait()
        await backend.stop()

    def __enter__(self) -> Running:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with Running() as r:
        yield r


def _send(address: tuple[str, int], data: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out


GOOD = b"GET /fuzz HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\n\r\nabc"
tokens = st.sampled_from(
    [b"GET ", b"POST ", b"http://web/", b"/x", b" HTTP/1.1", b" HTTP/1.0", b"\r\n", b"\r\n\r\n", b"Host: web",
     b"Content-Length: ", b"-1", b"99999999999999999999", b"Transfer-Encoding: chunked", b"0\r\n\r\n", b"zz\r\n",
     b"Connection: upgrade", b"Upgrade: websocket", b"Expect: 100-continue", b":", b" ", b"\x00", b"\xff", b"\t"]
)  # fmt: skip
mutated = st.lists(tokens, min_size=1, max_size=30).map(b"".join)
flipped = st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)).map(
    lambda t: GOOD[: t[0]] + bytes([t[1]]) + GOOD[t[0] + 1 :]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=600), mutated, flipped), listener=st.sampled_from(["outbound", "inbound"]))
def test_arbitrary_requests_never_kill_the_proxy(running, data, listener):
    assert running.proxy is not None
    _send(running.proxy.addresses[listener], data)


def test_proxy_still_serves_and_counted_the_rejects(running):
    assert running.proxy is not None
    out = _send(running.proxy.addresses["outbound"], GOOD)
    assert out.startswith(b"HTTP/1.1 200") and b"web GET /fuzz 3" in out
    assert running.proxy.metrics.error_total("bad_request") > 0
    assert running.proxy.metrics.error_total("proxy_error") == 0  # no internal error on any input
