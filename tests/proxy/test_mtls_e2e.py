"""The full mesh path with mutual TLS: client sidecar -> mTLS -> server sidecar -> app.

Real parts on loopback: the control plane's ``ConfigService`` over TLS with the real CA's
signing API under ``/ca``; each sidecar gets its workload certificate from it with a
bootstrap token, like ``smi proxy --ca-url ... --token-file ...`` does.  The proxies' routing
configs are static (swapped in), so each test controls exactly who may call whom.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy import proxyproto
from proxy.identity import keys
from proxy.identity.material import WorkloadMaterial, from_response
from proxy.identity.switching import TlsContexts
from proxy.running import Proxy
from proxy.settings import ProxySettings
from smi.distribution import ConfigService
from smi.identity import BootstrapTokenAuthenticator, CertificateAuthority, WorkloadIdentity, spiffe_id
from smi.identity.server import make_app
from smi.identity.serving import ControlPlaneTls
from smi.proxyconfig import AllowRule, HttpMatch, ProxyConfig
from smi.state import Store
from tests.distribution.helpers import names_compiler
from tests.proxy.harness import (
    CLIENT_ID,
    CLIENT_IP,
    OTHER_ID,
    SERVER_ID,
    SERVER_IP,
    Backend,
    client_config,
    cluster,
    ep,
    proxy_url,
    server_config,
    service,
    wait_until,
)

TD = "cluster.local"
INTRUDER_IP = "127.0.0.13"
CLIENT_ONLY = AllowRule("default/client-only/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), (HttpMatch("all"),))


@dataclasses.dataclass
class ControlPlane:
    ca: CertificateAuthority
    tokens: BootstrapTokenAuthenticator
    service: ConfigService
    tmp: Path

    def token_file(self, pod: str, sa: str) -> Path:
        path = self.tmp / f"{pod}.token"
        path.write_text(self.tokens.mint(namespace="default", pod=pod, service_account=sa) + "\n")
        return path


@asynccontextmanager
async def control_plane(tmp: Path, *, lifetime: datetime.timedelta) -> AsyncIterator[ControlPlane]:
    ca = CertificateAuthority.open(tmp / "ca", trust_domain=TD, leaf_lifetime=lifetime)
    tokens = BootstrapTokenAuthenticator()
    tls = ControlPlaneTls(ca, namespace="smi-system", service_account="smi-controller")
    service = ConfigService(
        store=Store(), compiler=names_compiler, tls=tls, ca_app=make_app(ca, tokens), tls_refresh=0.2, synced=True
    )
    async with service:
        yield ControlPlane(ca, tokens, service, tmp)


@pytest.fixture
async def cp(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    async with control_plane(tmp_path, lifetime=datetime.timedelta(hours=1)) as plane:
        yield plane


@asynccontextmanager
async def sidecar(
    plane: ControlPlane, config: ProxyConfig, *, sa: str, tls: TlsContexts | None = None, mtls: str = "strict",
    **settings: Any,
) -> AsyncIterator[Proxy]:  # fmt: skip
    base: dict[str, Any] = {"outbound": ("127.0.0.1", 0), "inbound": None, "admin": ("127.0.0.1", 0)}
    base.update(settings)
    proxy = Proxy(
        ProxySettings(
            **base, mtls=mtls, ca_url=plane.service.url + "/ca", token_file=plane.token_file(config.node.pod, sa),
            trust_bundle_pem=plane.ca.trust_bundle_pem, identity=spiffe_id(TD, "default", sa),
        ),
        tls=tls,
    )  # fmt: skip
    proxy.holder.swap(config, version=1)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def issue(ca: CertificateAuthority, sa: str) -> WorkloadMaterial:
    key = keys.generate_key()
    csr = keys.build_csr(key, spiffe_id(ca.trust_domain, "default", sa))
    issued = ca.issue(csr, identity=WorkloadIdentity("default", sa))
    return from_response(key, issued.identity, issued.as_json())


async def _get(client: Proxy, path: str = "/", **kw: Any) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://app{path}", proxy=proxy_url(client), **kw) as r:
        return r.status, await r.text()


def tls_count(proxy: Proxy, result: str) -> float:
    return proxy.registry.get_sample_value("smi_inbound_tls_connections_total", {"result": result}) or 0.0


Mesh = tuple[Backend, Proxy]
ClientFactory = Callable[..., Any]


@asynccontextmanager
async def mesh_server(
    plane: ControlPlane, backends: Callable[..., Awaitable[Backend]], *, rules: tuple[AllowRule, ...] = (CLIENT_ONLY,),
    peers: tuple[tuple[str, str], ...] = ((CLIENT_IP, CLIENT_ID),), mtls: str = "strict",
) -> AsyncIterator[Mesh]:  # fmt: skip
    app = await backends("app", SERVER_IP)
    config = server_config(app_port=app.port, rules=rules, peers=peers)
    async with sidecar(plane, config, sa="server", inbound=(SERVER_IP, 0), outbound=None, mtls=mtls) as server:
        yield app, server


def client_of(app: Backend, server: Proxy, *, identity: str = SERVER_ID, pod: str = "client-pod") -> ProxyConfig:
    endpoint = ep(app, proxy_port=server.addresses["inbound"][1], identity=identity)
    config = client_config((service("app", 80, "default/app:80"),), (cluster("default/app:80", endpoint),))
    return dataclasses.replace(config, node=dataclasses.replace(config.node, pod=pod))


def at(config: ProxyConfig, address: str, sa: str) -> ProxyConfig:
    node = dataclasses.replace(config.node, address=address, identity=spiffe_id(TD, "default", sa))
    return dataclasses.replace(config, node=node)


async def test_allowed_identity_passes_through_both_sidecars_over_mtls(cp: ControlPlane, backends: Any) -> None:
    async with (
        mesh_server(cp, backends) as (app, server),
        sidecar(cp, client_of(app, server), sa="client") as client,
    ):
        for _ in range(3):
            assert await _get(client, "/hello") == (200, "app GET /hello 0")
        assert app.count() == 3
        assert tls_count(server, "mtls_accepted") == 1  # one pooled mTLS connection
        assert client.pool.tls_opened == 1
        assert client.tls is not None and client.tls.material.identity == CLIENT_ID
        labels = {"direction": "inbound", "source_identity": CLIENT_ID, "route": CLIENT_ONLY.name}
        samples = [
            s for m in server.registry.collect() if m.name == "smi_requests" for s in m.samples
            if all(s.labels.get(k) == v for k, v in labels.items()) and s.name == "smi_requests_total"
        ]  # fmt: skip
        assert [s.value for s in samples] == [3.0]


async def test_identity_comes_from_the_certificate_not_the_source_address(cp: ControlPlane, backends: Any) -> None:
    # peers says the intruder's address is the client and the client's address is the intruder:
    # only the certificates decide.
    peers = ((INTRUDER_IP, CLIENT_ID), (CLIENT_IP, OTHER_ID))
    async with mesh_server(cp, backends, peers=peers) as (app, server):
        intruder_config = at(client_of(app, server, pod="intruder-pod"), INTRUDER_IP, "intruder")
        async with (
            sidecar(cp, client_of(app, server), sa="client") as client,
            sidecar(cp, intruder_config, sa="intruder") as intruder,
        ):
            status, text = await _get(intruder, "/secret")
            assert status == 403 and "Forbidden" in text
            assert await _get(client, "/hello") == (200, "app GET /hello 0")
            assert [r[1] for r in app.requests] == ["/hello"]
            assert tls_count(server, "mtls_accepted") == 2


async def test_plain_text_to_a_strict_inbound_port_is_refused_and_counted(cp: ControlPlane, backends: Any) -> None:
    async with mesh_server(cp, backends) as (app, server):
        host, port = server.addresses["inbound"]
        reader, writer = await asyncio.open_connection(host, port, local_addr=(CLIENT_IP, 0))
        writer.write(proxyproto.encode(src_address=CLIENT_IP, src_port=1, dst_address=SERVER_IP, dst_port=app.port))
        writer.write(b"GET / HTTP/1.1\r\nhost: app\r\n\r\n")
        try:
            answer = await asyncio.wait_for(reader.read(), 10)
        except ConnectionResetError:  # closed with our bytes unread: a reset
            answer = b""
        assert answer == b""
        writer.close()
        await wait_until(lambda: tls_count(server, "plaintext_refused") == 1, what="the refusal to be counted")
        assert app.count() == 0


async def test_permissive_inbound_accepts_plain_text_by_source_address_and_says_so(
    cp: ControlPlane, backends: Any
) -> None:
    async with mesh_server(cp, backends, mtls="permissive") as (app, server):
        host, port = server.addresses["inbound"]
        reader, writer = await asyncio.open_connection(host, port, local_addr=(CLIENT_IP, 0))
        writer.write(proxyproto.encode(src_address=CLIENT_IP, src_port=1, dst_address=SERVER_IP, dst_port=app.port))
        writer.write(b"GET /plain HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert server.registry.get_sample_value("smi_inbound_plaintext_connections_total") == 1
        assert server.registry.get_sample_value("smi_mtls_mode", {"mode": "permissive"}) == 1


async def test_a_sidecar_with_a_certificate_from_another_ca_is_refused(
    cp: ControlPlane, backends: Any, tmp_path: Path
) -> None:
    other = CertificateAuthority.open(tmp_path / "other-ca", trust_domain=TD)
    forged = issue(other, "client")
    # It even trusts our CA, so the handshake gets as far as the server checking its certificate.
    forged = dataclasses.replace(forged, bundle_pem=forged.bundle_pem + cp.ca.trust_bundle_pem)
    async with (
        mesh_server(cp, backends) as (app, server),
        sidecar(cp, client_of(app, server), sa="client", tls=TlsContexts(forged)) as client,
    ):
        status, _ = await _get(client, "/hello")
        assert status in (502, 503)
        await wait_until(lambda: tls_count(server, "unknown_ca") >= 1, what="the refusal to be counted")
        assert app.count() == 0


async def test_a_client_without_a_certificate_is_refused_and_counted(cp: ControlPlane, backends: Any) -> None:
    async with mesh_server(cp, backends) as (app, server):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cadata=cp.ca.trust_bundle_pem)
        host, port = server.addresses["inbound"]
        with pytest.raises((ssl.SSLError, ConnectionError)):
            reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname="x.invalid")
            writer.write(b"GET / HTTP/1.1\r\nhost: app\r\n\r\n")
            if not await asyncio.wait_for(reader.read(), 10):
                raise ConnectionResetError("closed without an answer")
        await wait_until(lambda: tls_count(server, "no_client_certificate") == 1, what="the refusal to be counted")
        assert app.count() == 0


async def test_the_client_refuses_a_server_that_is_not_the_endpoints_identity(cp: ControlPlane, backends: Any) -> None:
    async with mesh_server(cp, backends) as (app, server):
        config = client_of(app, server, identity=spiffe_id(TD, "default", "database"))
        async with sidecar(cp, config, sa="client") as client:
            status, text = await _get(client, "/hello")
            assert status == 503
            assert "peer identity rejected" in text and SERVER_ID in text and "sa/database" in text
            assert client.pool.tls_failures["identity_rejected"] == 1
            assert app.count() == 0


async def test_certificate_rotation_under_continuous_traffic_loses_no_request(tmp_path: Path, backends: Any) -> None:
    async with (
        control_plane(tmp_path, lifetime=datetime.timedelta(seconds=3)) as plane,
        mesh_server(plane, backends) as (app, server),
        sidecar(plane, client_of(app, server), sa="client") as client,
    ):
        assert client.certificates is not None and server.certificates is not None
        first = (client.tls.material.serial, server.tls.material.serial)  # type: ignore[union-attr]
        failures: list[tuple[int, str]] = []
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 40

        def renewed_twice() -> bool:
            return client.certificates.renewals >= 2 and server.certificates.renewals >= 2  # type: ignore[union-attr]

        async with aiohttp.ClientSession() as session:

            async def worker() -> None:
                nonlocal sent
                while not renewed_twice() and loop.time() < deadline and sent < 20_000:
                    sent += 1
                    async with session.get("http://app/r", proxy=proxy_url(client)) as r:
                        text = await r.text()
                        if r.status != 200:
                            failures.append((r.status, text))

            async def churn() -> None:  # new mesh connections: new handshakes with the renewed certificates
                while not renewed_twice() and loop.time() < deadline:
                    await wait_until(lambda: client.pool.tls_opened > 0, what="a connection")
                    client.pool.close_all()
                    await asyncio.sleep(0.2)

            await asyncio.gather(*(worker() for _ in range(4)), churn())
        assert renewed_twice(), "both sidecars should have renewed twice within the bound"
        assert failures == []
        assert sent > 0 and app.count() == sent
        assert (client.tls.material.serial, server.tls.material.serial) != first  # type: ignore[union-attr]
        assert client.pool.tls_opened > 1


async def test_ready_waits_for_the_certificate_and_metrics_show_it(cp: ControlPlane, backends: Any) -> None:
    app = await backends("app", SERVER_IP)
    async with sidecar(cp, server_config(app_port=app.port), sa="server", inbound=(SERVER_IP, 0)) as proxy:
        host, port = proxy.addresses["admin"]
        async with aiohttp.ClientSession() as s, s.get(f"http://{host}:{port}/ready") as r:
            assert r.status == 200
        assert proxy.certificates is not None and proxy.certificates.current is not None
        expiry = proxy.registry.get_sample_value("smi_certificate_expiry_timestamp_seconds")
        assert expiry == proxy.certificates.current.not_after.timestamp()


async def test_without_a_valid_token_the_sidecar_does_not_start(cp: ControlPlane, tmp_path: Path) -> None:
    token = tmp_path / "bad.token"
    token.write_text("not-a-token")
    proxy = Proxy(
        ProxySettings(
            outbound=None, inbound=None, admin=None, mtls="strict", ca_url=cp.service.url + "/ca", token_file=token,
            trust_bundle_pem=cp.ca.trust_bundle_pem, identity=CLIENT_ID, certificate_timeout=0.5,
        )
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"no workload certificate for .*sa/client: .*HTTP 401"):
        await proxy.start()
    await proxy.stop()
