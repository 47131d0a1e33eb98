"""Helpers for identity tests: a CA on disk, workload material, an mTLS echo listener."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from proxy.identity import keys
from proxy.identity.inbound import InboundConnection, InboundListener, Mode
from proxy.identity.material import WorkloadMaterial, from_response
from proxy.identity.switching import TlsContexts
from smi.identity import (
    Authenticator,
    BootstrapTokenAuthenticator,
    CertificateAuthority,
    WorkloadIdentity,
    spiffe_id,
)
from smi.identity.server import make_app
from tests.waiting import wait_until as wait_until  # the one bounded wait (tests.waiting)

TD = "cluster.local"


def sid(sa: str, ns: str = "default") -> str:
    return spiffe_id(TD, ns, sa)


def issue(ca: CertificateAuthority, sa: str, ns: str = "default") -> WorkloadMaterial:
    key = keys.generate_key()
    issued = ca.issue(keys.build_csr(key, spiffe_id(ca.trust_domain, ns, sa)), identity=WorkloadIdentity(ns, sa))
    return from_response(key, issued.identity, issued.as_json())


async def echo(conn: InboundConnection) -> None:
    """Answer every line with ``<peer identity or plain> <line>``."""
    while line := await conn.reader.readline():
        conn.writer.write(f"{conn.peer_identity or 'plain'} ".encode() + line)
        await conn.writer.drain()


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    return tmp_path / "ca"


@pytest.fixture
def ca(ca_dir: Path) -> CertificateAuthority:
    return CertificateAuthority.open(ca_dir, trust_domain=TD, leaf_lifetime=datetime.timedelta(hours=1))


StartServer = Callable[..., Awaitable[InboundListener]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    listeners: list[InboundListener] = []

    async def start(
        material: WorkloadMaterial, *, mode: Mode = Mode.STRICT, authorize: Callable[[str], bool] | None = None
    ) -> InboundListener:
        listener = InboundListener(echo, contexts=TlsContexts(material), mode=mode, authorize=authorize)
        await listener.start("127.0.0.1")
        listeners.append(listener)
        return listener

    yield start
    for listener in listeners:
        await listener.close()


class CaApi:
    def __init__(self, url: str, tokens: BootstrapTokenAuthenticator, runner: web.AppRunner) -> None:
        self.url = url
        self.tokens = tokens
        self.runner = runner


async def serve_ca(ca: CertificateAuthority, authenticator: Authenticator) -> tuple[str, web.AppRunner]:
    runner = web.AppRunner(make_app(ca, authenticator))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}", runner


@pytest.fixture
async def ca_api(ca: CertificateAuthority) -> AsyncIterator[CaApi]:
    tokens = BootstrapTokenAuthenticator()
    url, runner = await serve_ca(ca, tokens)
    yield CaApi(url, tokens, runner)
    await runner.cleanup()
