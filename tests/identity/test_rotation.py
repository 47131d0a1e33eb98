"""Certificate renewal and root rotation under continuous traffic lose no request.

Two workloads (``a`` calls ``b``) each run a :class:`CertificateManager` against the CA API
with 4-second certificates; a bounded traffic loop sends requests alternately over one
pooled connection (opened before everything else, kept throughout) and over new
connections, while certificates renew several times and, in the second test, the root
is rotated and the old one retired.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from cryptography import x509

from proxy.identity import CertificateManager, InboundListener, TlsContexts, connect_mesh
from proxy.identity.material import WorkloadMaterial
from smi.identity import BootstrapTokenAuthenticator, CertificateAuthority, RotationError
from tests.identity.conftest import echo, serve_ca, sid, wait_until

MAX_REQUESTS = 20_000
MAX_SECONDS = 30.0


@dataclass
class Workload:
    manager: CertificateManager
    contexts: TlsContexts
    materials: list[WorkloadMaterial] = field(default_factory=list)


@dataclass
class Mesh:
    ca: CertificateAuthority
    a: Workload
    b: Workload
    server: InboundListener


@pytest.fixture
async def mesh(ca: CertificateAuthority) -> AsyncIterator[Mesh]:
    short = CertificateAuthority(ca.material, leaf_lifetime=datetime.timedelta(seconds=4))
    tokens = BootstrapTokenAuthenticator()
    url, runner = await serve_ca(short, tokens)
    workloads = []
    for sa in ("a", "b"):
        token = tokens.mint(namespace="default", pod=f"{sa}-1", service_account=sa)
        manager = CertificateManager(
            ca_url=url, identity=sid(sa), credential=lambda token=token: token, retry_initial=0.05, retry_max=0.5
        )
        first = await manager.start()
        workload = Workload(manager, TlsContexts(first), [first])
        manager.subscribe(workload.contexts.update)
        manager.subscribe(workload.materials.append)
        workloads.append(workload)
    server = InboundListener(echo, contexts=workloads[1].contexts)
    await server.start("127.0.0.1")
    yield Mesh(short, workloads[0], workloads[1], server)
    await server.close()
    for workload in workloads:
        await workload.manager.stop()
    await runner.cleanup()


@dataclass
class Traffic:
    sent: int = 0
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def _traffic(mesh: Mesh, traffic: Traffic) -> None:
    port = mesh.server.port
    pooled = await connect_mesh("127.0.0.1", port, contexts=mesh.a.contexts, expected={sid("b")})
    deadline = time.monotonic() + MAX_SECONDS
    while not traffic.stop.is_set() and traffic.sent < MAX_REQUESTS and time.monotonic() < deadline:
        traffic.sent += 1
        line = f"req-{traffic.sent}\n".encode()
        try:
            if traffic.sent % 2:
                stream = pooled
            else:
                stream = await connect_mesh("127.0.0.1", port, contexts=mesh.a.contexts, expected={sid("b")})
            stream.writer.write(line)
            answer = await stream.reader.readline()
            if stream is not pooled:
                stream.release()
            if answer != f"{sid('a')} ".encode() + line:
                traffic.failures.append(f"request {traffic.sent}: answer {answer!r}")
            else:
                traffic.answered += 1
        except Exception as e:
            traffic.failures.append(f"request {traffic.sent}: {e!r}")
        await asyncio.sleep(0)
    pooled.release()


@contextlib.asynccontextmanager
async def running_traffic(mesh: Mesh) -> AsyncIterator[Traffic]:
    traffic = Traffic()
    task = asyncio.create_task(_traffic(mesh, traffic))
    await wait_until(lambda: traffic.answered >= 10 or task.done(), what="traffic to flow")
    try:
        yield traffic
    finally:
        traffic.stop.set()
        await task


def _renewals(workload: Workload) -> int:
    return len(workload.materials) - 1


def _root_subject(material: WorkloadMaterial) -> x509.Name:
    return x509.load_pem_x509_certificates(material.chain_pem.encode())[0].issuer


async def test_renewal_under_continuous_traffic_loses_no_request(mesh: Mesh) -> None:
    async with running_traffic(mesh) as traffic:
        await wait_until(
            lambda: min(_renewals(mesh.a), _renewals(mesh.b)) >= 3,
            within=MAX_SECONDS,
            what="three renewals on each side",
        )
    assert traffic.failures == []
    assert traffic.answered == traffic.sent > 100
    # Every renewal was a new key and a new certificate, published to the live contexts.
    serials = [m.serial for m in mesh.b.materials]
    assert len(set(serials)) == len(serials)
    assert mesh.b.contexts.material is mesh.b.manager.current
    # The pooled connection outlived the certificate it was made with (4 s).
    assert datetime.datetime.now(datetime.UTC) > mesh.b.materials[0].not_after


async def test_root_rotation_under_continuous_traffic_loses_no_request(mesh: Mesh) -> None:
    old_root = mesh.ca.material.active_root
    async with running_traffic(mesh) as traffic:
        mesh.ca.rotate()
        new_root = mesh.ca.material.active_root
        for workload in (mesh.a, mesh.b):
            await wait_until(
                lambda w=workload: _root_subject(w.contexts.material) != old_root.subject,
                within=MAX_SECONDS,
                what="workloads to renew under the new root",
            )
        with pytest.raises(RotationError, match="retire after that"):
            mesh.ca.retire_old()  # too early: leaves issued under the old root may still be valid

        def retired() -> bool:
            try:
                mesh.ca.retire_old()
            except RotationError:
                return False
            return True

        await wait_until(retired, within=MAX_SECONDS, what="the old root's leaves to expire")
        assert mesh.ca.material.bundle == (new_root,)
        for workload in (mesh.a, mesh.b):
            await wait_until(
                lambda w=workload: w.contexts.material.bundle_pem == mesh.ca.trust_bundle_pem,
                within=MAX_SECONDS,
                what="workloads to receive the bundle without the old root",
            )
        answered_after_retire = traffic.answered
        await wait_until(lambda: traffic.answered > answered_after_retire + 50, what="traffic after retiring")
    assert traffic.failures == []
    assert traffic.answered == traffic.sent


def test_renewal_is_jittered_between_half_and_seventy_percent_of_the_lifetime() -> None:
    manager = CertificateManager(ca_url="http://127.0.0.1:1", identity=sid("a"), credential=str, rng=random.Random(7))
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    material = WorkloadMaterial(
        identity=sid("a"),
        key=None,  # type: ignore[arg-type]
        chain_pem="",
        bundle_pem="",
        not_before=now,
        not_after=now + datetime.timedelta(hours=24),
        serial=1,
    )
    delays = [manager.renew_delay(material, received=now) / 3600 for _ in range(1000)]
    assert 12 <= min(delays) < 12.5 and 16.5 < max(delays) <= 16.8
