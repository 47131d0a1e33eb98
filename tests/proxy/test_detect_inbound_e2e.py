"""The inbound listener on a ``detect`` port (a port that declares no protocol), real sockets, one sidecar.

The calling sidecar's PROXY header may say "opaque" (``proxyproto.mark_opaque``): then the
connection is opaque TCP at once, so a server-speaks-first app's banner flows without a
second detection wait.  The sidecar here waits 60 s for first bytes, so only the mark can
let the banner through within the test's bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from proxy import proxyproto
from proxy.running import Proxy
from smi.proxyconfig import AllowRule
from tests.proxy.harness import CLIENT_ID, CLIENT_IP, SERVER_IP, running_proxy, server_config

pytestmark = pytest.mark.timeout(60)
BANNER = b"220 app ready\r\n"


@pytest.fixture
async def banner_app() -> AsyncIterator[int]:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)  # the server speaks first
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(greet, SERVER_IP, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def dial(proxy: Proxy, app_port: int, *, opaque: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = proxy.addresses["inbound"]
    reader, writer = await asyncio.open_connection(host, port, local_addr=(CLIENT_IP, 0))
    src = writer.get_extra_info("sockname")
    header = proxyproto.encode(src_address=src[0], src_port=src[1], dst_address=SERVER_IP, dst_port=app_port)
    writer.write(proxyproto.mark_opaque(header) if opaque else header)
    return reader, writer


async def test_a_caller_sidecars_opaque_mark_skips_detection_so_the_banner_flows_at_once(banner_app: int) -> None:
    rules = (AllowRule("default/app/TCPRoute/all", (CLIENT_ID,), "tcp"),)
    config = server_config(app_port=banner_app, protocol="detect", rules=rules)
    async with running_proxy(config, inbound=(SERVER_IP, 0), outbound=None, detect_timeout=60.0) as proxy:
        reader, writer = await dial(proxy, banner_app, opaque=True)
        try:
            assert await asyncio.wait_for(reader.readline(), 10) == BANNER
            writer.write(b"\x00\x01binary\n")
            assert await asyncio.wait_for(reader.readline(), 10) == b"\x00\x01binary\n"
        finally:
            writer.close()
        opened = sum(s.tcp_opened for labels, s in proxy.metrics.edges.items() if labels[0] == "inbound")
        assert opened == 1  # counted as a TCP connection, as on a tcp port


async def test_the_opaque_mark_gains_nothing_without_a_tcp_route(banner_app: int) -> None:
    rules = (AllowRule("default/app/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None),)
    config = server_config(app_port=banner_app, protocol="detect", rules=rules)
    async with running_proxy(config, inbound=(SERVER_IP, 0), outbound=None, detect_timeout=60.0) as proxy:
        reader, writer = await dial(proxy, banner_app, opaque=True)
        try:
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed: HTTP rules do not open opaque TCP
        finally:
            writer.close()
        denied = sum(s.denied for labels, s in proxy.metrics.edges.items() if labels[0] == "inbound")
        assert denied == 1
