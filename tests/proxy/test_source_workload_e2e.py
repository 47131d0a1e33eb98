"""The server's sidecar names its caller's workload, from the caller's own claim backed by mTLS.

The calling sidecar puts ``<namespace>/<workload>`` (its node, as compiled) in a PROXY v2
TLV on every connection it opens to a peer sidecar, whatever it carries (HTTP/1.1, HTTP/2,
opaque TCP); the inbound sidecar labels its series ``source_workload`` with it only when the
caller's verified SPIFFE identity is of that namespace, and counts a claim it refuses.
Every series says whether its hop was mutual TLS (label ``tls``).  Real parts on loopback:
the real CA behind the control plane, two in-process sidecars, a real app.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from proxy import proxyproto
from proxy.inbound import MAX_CLAIMS_PER_IDENTITY, backed_claim
from proxy.metrics import Metrics
from proxy.running import Proxy
from smi.proxyconfig import AllowRule
from smi.proxyconfig.metricnames import EDGE_LABELS
from tests.proxy.harness import CLIENT_ID, SERVER_IP, server_config
from tests.proxy.test_mtls_e2e import ControlPlane, _get, client_of, cp, mesh_server, sidecar
from tests.proxy.test_tcp_mtls_e2e import FORWARD, db_client, db_endpoint, echo_app, roundtrip

__all__ = ["cp"]  # the control plane fixture, used by name below

SOURCE = EDGE_LABELS.index("source_workload")
TLS = EDGE_LABELS.index("tls")


def _edges(proxy: Proxy, direction: str) -> dict[tuple[str, str], int]:
    """(source_workload, tls) -> requests + TCP connections of ``direction`` edges that carried any."""
    found: dict[tuple[str, str], int] = {}
    for labels, stats in proxy.metrics.edges.items():
        if labels[0] == direction and (stats.requests or stats.tcp_opened):
            key = (labels[SOURCE], labels[TLS])
            found[key] = found.get(key, 0) + stats.requests + stats.tcp_opened
    return found


def test_the_claim_travels_in_a_custom_tlv_and_other_tlvs_are_skipped() -> None:
    data = proxyproto.encode(src_address="127.0.0.1", src_port=1, dst_address="127.0.0.2", dst_port=80,
                             workload="shop/buyer")  # fmt: skip
    header, used = proxyproto.decode(data + b"GET /") or (None, 0)
    assert header is not None and used == len(data) and header.workload == "shop/buyer"
    # a foreign TLV before ours, then a truncated TLV area: addresses still count, the claim only when whole
    plain = proxyproto.encode(src_address="127.0.0.1", src_port=1, dst_address="127.0.0.2", dst_port=80)
    foreign = b"\x04\x00\x02ab" + b"\xe0\x00\x0ashop/buyer"
    patched = plain[:14] + (len(plain) - 16 + len(foreign)).to_bytes(2, "big") + plain[16:] + foreign
    assert proxyproto.decode(patched) == (proxyproto.ProxyHeader("127.0.0.1", 1, "127.0.0.2", 80, False, "shop/buyer"),
                                          len(patched))  # fmt: skip
    cut = plain[:14] + (len(plain) - 16 + 3).to_bytes(2, "big") + plain[16:] + b"\xe0\x00\x09"
    assert proxyproto.decode(cut) == (proxyproto.ProxyHeader("127.0.0.1", 1, "127.0.0.2", 80), len(cut))


def test_one_identity_names_a_bounded_number_of_workloads() -> None:
    metrics = Metrics()
    named = [backed_claim(f"default/w{i}", CLIENT_ID, metrics) for i in range(MAX_CLAIMS_PER_IDENTITY + 5)]
    assert named == [f"w{i}" for i in range(MAX_CLAIMS_PER_IDENTITY)] + [""] * 5
    assert metrics.workload_claims_rejected == 5
    assert backed_claim("default/w0", CLIENT_ID, metrics) == "w0"  # one already named stays named


@pytest.mark.parametrize(
    ("claim", "verified", "named", "rejected"),
    [
        ("default/client", CLIENT_ID, "client", 0),
        ("payments/ledger", CLIENT_ID, "", 1),  # another namespace than the certificate's
        ("default/a/b", CLIENT_ID, "", 1),
        ('default/x",evil="1', CLIENT_ID, "", 1),  # not an object name
        ("default/client", None, "", 0),  # plain text: nothing backs the claim
        ("", CLIENT_ID, "", 0),  # an older sidecar sends none
    ],
)
def test_only_a_claim_the_verified_identity_backs_is_used(
    claim: str, verified: str | None, named: str, rejected: int
) -> None:
    metrics = Metrics()
    assert backed_claim(claim, verified, metrics) == named
    assert metrics.workload_claims_rejected == rejected


@pytest.mark.parametrize("h1_over_h2", [False, True], ids=["http1", "http2"])
async def test_the_server_side_names_the_calling_workload_over_http(
    cp: ControlPlane, backends: Any, h1_over_h2: bool
) -> None:
    async with mesh_server(cp, backends) as (app, server):
        async with sidecar(cp, client_of(app, server), sa="client", h1_over_h2=h1_over_h2) as client:
            for _ in range(3):
                assert (await _get(client, "/hello"))[0] == 200
        assert _edges(server, "inbound") == {("client", "true"): 3}
        assert _edges(client, "outbound") == {("client", "true"): 3}
        assert server.metrics.workload_claims_rejected == 0


async def test_a_claim_the_certificate_contradicts_is_dropped_and_counted(cp: ControlPlane, backends: Any) -> None:
    async with mesh_server(cp, backends) as (app, server):
        config = client_of(app, server)  # runs as the client's identity, claims another namespace's workload
        liar = dataclasses.replace(
            config, node=dataclasses.replace(config.node, namespace="payments", workload="ledger")
        )
        async with sidecar(cp, liar, sa="client") as client:
            assert (await _get(client, "/hello"))[0] == 200
        assert _edges(server, "inbound") == {("", "true"): 1}
        assert server.metrics.workload_claims_rejected == 1
        assert server.registry.get_sample_value("smi_workload_claims_rejected_total") == 1


async def test_a_tcp_connection_names_the_calling_workload_too(cp: ControlPlane) -> None:
    async with echo_app() as echo:
        rules = (AllowRule("default/db/TCPRoute/db", (CLIENT_ID,), "tcp", (echo.port,)),)
        config = server_config(app_port=echo.port, protocol="tcp", rules=rules)
        async with sidecar(cp, config, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server:
            client_cfg = db_client((db_endpoint(echo, server),))
            async with sidecar(cp, client_cfg, sa="client", outbound=None, forwards=(FORWARD,)) as client:
                assert await roundtrip(client, b"hello") == b"HELLO"
            assert _edges(server, "inbound") == {("client", "true"): 1}
