"""Opaque TCP between two sidecars under strict mTLS: a ``--forward`` of a TCP port reaches a
strict inbound TCP port through the same TLS connect as HTTP (the server must prove the
endpoint's identity; the PROXY v2 header travels inside TLS), and a learning picker is
told when each TCP connection ends.

Real parts on loopback: the real CA behind the control plane's ``/ca`` (as in
``test_mtls_e2e``), two in-process sidecars, an echo server as the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from proxy.balancing import EwmaLeastLoaded
from proxy.running import Proxy
from proxy.settings import Forward
from smi.identity import spiffe_id
from smi.proxyconfig import AllowRule, Endpoint, ProxyConfig
from tests.proxy.harness import (
    CLIENT_ID,
    SERVER_ID,
    SERVER_IP,
    client_config,
    cluster,
    running_proxy,
    server_config,
    service,
    wait_until,
)
from tests.proxy.test_mtls_e2e import TD, ControlPlane, cp, sidecar, tls_count

__all__ = ["cp"]  # the control plane fixture, used by name below

FORWARD = Forward(("127.0.0.1", 0), "default", "db", 5432)
LISTENER = "forward:db.default:5432"


class Echo:
    """A TCP app that answers every chunk upper-cased and records what it got."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.host = ""
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while data := await reader.read(65536):
            self.received.append(data)
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    async def start(self, host: str) -> Echo:
        self.server = await asyncio.start_server(self.handle, host, 0)
        self.host = host
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@asynccontextmanager
async def echo_app(host: str = SERVER_IP) -> AsyncIterator[Echo]:
    echo = await Echo().start(host)
    try:
        yield echo
    finally:
        echo.close()


def db_client(endpoints: tuple[Endpoint, ...], *, lb: str = "round_robin") -> ProxyConfig:
    return client_config(
        (service("db", 5432, "default/db:5432", protocol="tcp"),),
        (cluster("default/db:5432", *endpoints, protocol="tcp", lb=lb),),
    )


def db_endpoint(echo: Echo, server: Proxy, *, identity: str = SERVER_ID) -> Endpoint:
    return Endpoint(
        SERVER_IP, echo.port, pod="db-pod", namespace="default", identity=identity,
        proxy_port=server.addresses["inbound"][1], workload="db",
    )  # fmt: skip


async def roundtrip(client: Proxy, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*client.addresses[LISTENER])
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.readexactly(len(data)), 10)
    finally:
        writer.close()


async def closed_without_data(client: Proxy) -> bool:
    reader, writer = await asyncio.open_connection(*client.addresses[LISTENER])
    writer.write(b"anyone there?")
    try:
        answer = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        answer = b""
    writer.close()
    return answer == b""


async def test_tcp_forward_reaches_a_strict_inbound_port_over_mtls(cp: ControlPlane) -> None:
    async with echo_app() as echo:
        rules = (AllowRule("default/db/TCPRoute/db", (CLIENT_ID,), "tcp", (echo.port,)),)
        config = server_config(app_port=echo.port, protocol="tcp", rules=rules)
        async with sidecar(cp, config, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server:
            client_cfg = db_client((db_endpoint(echo, server),))
            async with sidecar(cp, client_cfg, sa="client", outbound=None, forwards=(FORWARD,)) as client:
                assert await roundtrip(client, b"hello tcp") == b"HELLO TCP"
                assert await roundtrip(client, b"again") == b"AGAIN"
                # both connections were mTLS, verified on both sides, never plain text
                assert tls_count(server, "mtls_accepted") == 2
                assert tls_count(server, "plaintext_refused") == 0
                assert client.pool.tls_opened == 2
                assert b"".join(echo.received) == b"hello tcpagain"
                # the server sidecar knew the caller from its certificate and the port from the PROXY header
                inbound = [
                    s for labels, s in server.metrics.edges.items()
                    if labels[3] == CLIENT_ID and labels[8] == rules[0].name
                ]  # fmt: skip
                assert [s.tcp_opened for s in inbound] == [2]
                await wait_until(
                    lambda: sum(s.tcp_closed for s in client.metrics.edges.values()) == 2, what="both closes counted"
                )


async def test_tcp_forward_refuses_a_peer_that_is_not_the_endpoints_identity(cp: ControlPlane) -> None:
    async with echo_app() as echo:
        rules = (AllowRule("default/db/TCPRoute/db", (CLIENT_ID,), "tcp"),)
        config = server_config(app_port=echo.port, protocol="tcp", rules=rules)
        async with sidecar(cp, config, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server:
            wrong = db_endpoint(echo, server, identity=spiffe_id(TD, "default", "database"))
            async with sidecar(cp, db_client((wrong,)), sa="client", outbound=None, forwards=(FORWARD,)) as client:
                assert await closed_without_data(client)
                assert client.pool.tls_failures["identity_rejected"] == 1
                assert client.metrics.error_total("connect_failed") == 1
                assert echo.connections == 0


async def test_a_tcp_forward_without_mtls_is_refused_by_a_strict_inbound_port(cp: ControlPlane) -> None:
    """The failure this module fixes, kept visible: a plain-text TCP caller never reaches the app."""
    async with echo_app() as echo:
        rules = (AllowRule("default/db/TCPRoute/db", (CLIENT_ID,), "tcp"),)
        config = server_config(app_port=echo.port, protocol="tcp", rules=rules)
        async with sidecar(cp, config, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server:
            plain = db_client((db_endpoint(echo, server),))
            async with running_proxy(plain, inbound=None, outbound=None, forwards=(FORWARD,)) as client:
                assert await closed_without_data(client)
                await wait_until(lambda: tls_count(server, "plaintext_refused") == 1, what="the refusal")
                assert echo.connections == 0


async def test_an_ewma_picker_behind_a_tcp_forward_learns_when_connections_end() -> None:
    """In-flight counts go back to 0 when connections close, so the picker keeps spreading them."""
    async with echo_app("127.0.0.21") as one, echo_app("127.0.0.22") as two:
        endpoints = (Endpoint(one.host, one.port, pod="db-0"), Endpoint(two.host, two.port, pod="db-1"))
        config = db_client(endpoints, lb="ewma")
        async with running_proxy(config, inbound=None, outbound=None, forwards=(FORWARD,)) as client:
            for i in range(6):
                assert await roundtrip(client, b"x%d" % i) == b"X%d" % i
            cc = client.holder.current
            assert cc is not None
            assert client.holder.runtime is not None
            picker = client.holder.runtime.picker(cc.clusters["default/db:5432"])
            assert isinstance(picker, EwmaLeastLoaded)
            await wait_until(
                lambda: all(picker.in_flight(e) == 0 for e in endpoints), what="every connection reported done"
            )
            assert one.connections + two.connections == 6
            # a connection still open counts as in flight
            reader, writer = await asyncio.open_connection(*client.addresses[LISTENER])
            writer.write(b"held")
            assert await asyncio.wait_for(reader.readexactly(4), 10) == b"HELD"
            assert sum(picker.in_flight(e) for e in endpoints) == 1
            writer.close()
            await wait_until(lambda: all(picker.in_flight(e) == 0 for e in endpoints), what="the held one done")
