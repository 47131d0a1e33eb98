"""UDP between two sidecars under strict mTLS: datagrams to a ``--udp-forward`` listener reach the
app behind the other sidecar inside one TLS stream per session, allowed by a UDPRoute rule for
the caller's verified identity, and answers come back to the sender's own address and port.

Real parts on loopback: the real CA behind the control plane's ``/ca``, two in-process
sidecars, a UDP echo app.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from proxy.running import Proxy
from proxy.settings import Forward
from proxy.udp.stats import udp_stats_for
from smi.proxyconfig import AllowRule, Endpoint, ProxyConfig
from tests.proxy.harness import (
    CLIENT_ID,
    SERVER_ID,
    SERVER_IP,
    client_config,
    cluster,
    server_config,
    service,
    wait_until,
)
from tests.proxy.test_mtls_e2e import ControlPlane, sidecar

FORWARD = Forward(("127.0.0.1", 0), "default", "dns", 53)


class UdpEcho(asyncio.DatagramProtocol):
    """Answers every datagram with ``echo:`` + it, and remembers the source ports it saw."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sources: set[tuple[str, int]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        assert self.transport is not None
        self.sources.add((str(addr[0]), addr[1]))
        self.transport.sendto(b"echo:" + data, addr)


@asynccontextmanager
async def udp_echo() -> AsyncIterator[tuple[UdpEcho, int]]:
    transport, echo = await asyncio.get_running_loop().create_datagram_endpoint(UdpEcho, local_addr=(SERVER_IP, 0))
    try:
        yield echo, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def dns_client(server: Proxy, app_port: int) -> ProxyConfig:
    endpoint = Endpoint(
        SERVER_IP, app_port, pod="dns-pod", namespace="default", identity=SERVER_ID,
        proxy_port=server.addresses["inbound"][1], workload="dns",
    )  # fmt: skip
    return client_config(
        (service("dns", 53, "default/dns:53", protocol="udp"),), (cluster("default/dns:53", endpoint, protocol="udp"),)
    )


def ask(address: tuple[str, int], payloads: list[bytes], *, timeout: float = 5.0) -> list[bytes | None]:
    """Send each payload from one client socket; the answer to each (None: none within ``timeout``)."""
    answers: list[bytes | None] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for payload in payloads:
            sock.sendto(payload, address)
            try:
                answers.append(sock.recvfrom(65536)[0])
            except TimeoutError:
                answers.append(None)
    return answers


async def test_datagrams_cross_two_sidecars_in_mtls_and_answers_come_back(cp: ControlPlane) -> None:
    async with udp_echo() as (echo, port):
        rules = (AllowRule("default/dns/UDPRoute/dns", (CLIENT_ID,), "udp", (port,)),)
        config = server_config(app_port=port, protocol="udp", rules=rules)
        async with (
            sidecar(cp, config, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server,
            sidecar(cp, dns_client(server, port), sa="client", outbound=None, udp_forwards=(FORWARD,)) as client,
        ):
            listen = client.addresses["udp:dns.default:53"]
            address = (listen[0], client._datagram[0].get_extra_info("sockname")[1])
            answers = await asyncio.to_thread(ask, address, [b"a", b"b", b"c" * 1000])
            assert answers == [b"echo:a", b"echo:b", b"echo:" + b"c" * 1000]
            assert len(echo.sources) == 1  # one session: one flow to the app
            second = await asyncio.to_thread(ask, address, [b"other"])
            assert second == [b"echo:other"]
            assert len(echo.sources) == 2  # another source port: another session
            out = udp_stats_for(client.metrics)
            edge = next(e for labels, e in out.edges.items() if labels[5] == "dns")
            assert (edge.datagrams_out, edge.datagrams_in, edge.opened) == (4, 4, 2)
            assert edge.bytes_out == 1 + 1 + 1000 + 5
            inbound = udp_stats_for(server.metrics)
            assert sum(e.datagrams_out for e in inbound.edges.values()) == 4
            rendered = client.registry.render().decode()
            assert "smi_udp_datagrams_total{" in rendered and 'flow="to_destination"' in rendered
            assert server.tls_metrics is not None  # every stream was mTLS (strict: plain text refused)


async def test_a_caller_no_udp_route_allows_gets_no_answer_and_is_counted(cp: ControlPlane) -> None:
    async with udp_echo() as (echo, port):
        rules = (AllowRule("default/dns/UDPRoute/dns", ("spiffe://cluster.local/ns/default/sa/other",), "udp", ()),)
        config = server_config(app_port=port, protocol="udp", rules=rules)
        async with (
            sidecar(cp, config, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server,
            sidecar(cp, dns_client(server, port), sa="client", outbound=None, udp_forwards=(FORWARD,)) as client,
        ):
            address = ("127.0.0.1", client._datagram[0].get_extra_info("sockname")[1])
            assert await asyncio.to_thread(ask, address, [b"let me in"], timeout=1.0) == [None]
            assert not echo.sources
            inbound = udp_stats_for(server.metrics)
            await wait_until(lambda: any(e.dropped.get("denied") for e in inbound.edges.values()), what="denied")


async def test_oversized_datagrams_are_dropped_and_counted(cp: ControlPlane) -> None:
    async with udp_echo() as (_, port):
        rules = (AllowRule("default/dns/UDPRoute/dns", (CLIENT_ID,), "udp", ()),)
        config = server_config(app_port=port, protocol="udp", rules=rules)
        async with (
            sidecar(cp, config, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server,
            sidecar(cp, dns_client(server, port), sa="client", outbound=None, udp_forwards=(FORWARD,)) as client,
        ):
            address = ("127.0.0.1", client._datagram[0].get_extra_info("sockname")[1])
            answers = await asyncio.to_thread(ask, address, [b"x" * 9000, b"small"], timeout=1.0)
            assert answers == [None, b"echo:small"]
            edge = next(e for e in udp_stats_for(client.metrics).edges.values() if e.dropped)
            assert edge.dropped == {"too_large": 1}
