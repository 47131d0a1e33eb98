"""Real mTLS on loopback between the inbound listener and ``connect_mesh``."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ssl
from pathlib import Path

import pytest

from proxy.identity import InboundListener, Mode, PeerIdentityRejected, TlsContexts, connect_mesh
from proxy.identity.contexts import peer_identity, sni_name
from proxy.identity.material import WorkloadMaterial
from smi.identity import CertificateAuthority, x509s
from tests.identity.conftest import TD, StartServer, issue, sid, wait_until


async def _ask(material: WorkloadMaterial, port: int, *, expected: str, line: bytes = b"hello\n") -> bytes:
    stream = await connect_mesh("127.0.0.1", port, contexts=TlsContexts(material), expected={expected})
    stream.writer.write(line)
    answer = await stream.reader.readline()
    stream.release()
    return answer


async def _refused(material: WorkloadMaterial, port: int) -> None:
    """The server drops the client: the handshake or the first read fails (TLS 1.3 checks late)."""
    ctx = TlsContexts(material).client
    with pytest.raises((ssl.SSLError, ConnectionError)) as info:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="x.invalid")
        writer.write(b"hello\n")
        answer = await reader.readline()
        if not answer:
            raise ConnectionResetError("closed without an answer")
    assert info.value is not None


async def test_allowed_identity_passes_and_the_server_sees_it(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    server = await start_server(issue(ca, "b"))
    answer = await _ask(issue(ca, "a"), server.port, expected=sid("b"))
    assert answer == f"{sid('a')} hello\n".encode()
    assert server.stats.counts == {"mtls_accepted": 1}


async def test_client_refuses_a_server_with_the_wrong_identity(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    server = await start_server(issue(ca, "b"))
    with pytest.raises(PeerIdentityRejected, match=r"the peer is .*/sa/b; expected .*/sa/a") as info:
        await _ask(issue(ca, "c"), server.port, expected=sid("a"))
    assert info.value.peer == sid("b")


async def test_server_refuses_an_unauthorized_identity(ca: CertificateAuthority, start_server: StartServer) -> None:
    server = await start_server(issue(ca, "b"), authorize=lambda peer: peer == sid("a"))
    assert await _ask(issue(ca, "a"), server.port, expected=sid("b")) == f"{sid('a')} hello\n".encode()
    await _refused(issue(ca, "intruder"), server.port)
    await wait_until(lambda: server.stats.counts["identity_denied"] == 1, what="the denial to be counted")


async def test_expired_client_certificate_is_refused_and_counted(
    tmp_path: Path, ca: CertificateAuthority, start_server: StartServer
) -> None:
    short = CertificateAuthority(ca.material, leaf_lifetime=datetime.timedelta(seconds=1))
    expired = issue(short, "a")
    await wait_until(lambda: x509s.utcnow() > expired.not_after, within=5, what="the certificate to expire")
    server = await start_server(issue(ca, "b"))
    await _refused(expired, server.port)
    await wait_until(lambda: server.stats.counts["expired_certificate"] == 1, what="the refusal to be counted")


async def test_certificate_from_another_ca_is_refused_and_counted(
    tmp_path: Path, ca: CertificateAuthority, start_server: StartServer
) -> None:
    other = CertificateAuthority.open(tmp_path / "other", trust_domain=TD)
    server = await start_server(issue(ca, "b"))
    foreign = dataclasses.replace(issue(other, "a"), bundle_pem=ca.trust_bundle_pem)  # trusts the server
    await _refused(foreign, server.port)  # same identity string, wrong CA
    await wait_until(lambda: sum(server.stats.counts.values()) == 1, what="the refusal to be counted")
    assert server.stats.counts == {"unknown_ca": 1}
    with pytest.raises(ssl.SSLCertVerificationError):  # and the other way round: the client refuses
        await _ask(issue(other, "a"), server.port, expected=sid("b"))


async def test_client_without_a_certificate_is_refused_and_counted(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    server = await start_server(issue(ca, "b"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=ca.trust_bundle_pem)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx)
        writer.write(b"hello\n")
        if not await reader.readline():
            raise ConnectionResetError("closed without an answer")
    await wait_until(lambda: server.stats.counts["no_client_certificate"] == 1, what="the refusal to be counted")


async def test_plain_text_is_refused_in_strict_mode(ca: CertificateAuthority, start_server: StartServer) -> None:
    server = await start_server(issue(ca, "b"))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    try:
        assert await reader.read() == b""  # closed, nothing served
    except ConnectionResetError:
        pass  # or reset, since the request was never read
    writer.close()
    assert server.stats.counts == {"plaintext_refused": 1}


async def test_permissive_mode_accepts_plain_text_and_says_so(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    server = await start_server(issue(ca, "b"), mode=Mode.PERMISSIVE)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"hello\n")
    assert await reader.readline() == b"plain hello\n"
    writer.close()
    assert await _ask(issue(ca, "a"), server.port, expected=sid("b")) == f"{sid('a')} hello\n".encode()
    assert server.stats.counts == {"plaintext_accepted": 1, "mtls_accepted": 1}


async def test_only_tls13_is_spoken(ca: CertificateAuthority, start_server: StartServer) -> None:
    server = await start_server(issue(ca, "b"))
    ctx = TlsContexts(issue(ca, "a")).client
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx, server_hostname="x.invalid")
    await wait_until(lambda: server.stats.counts["handshake_failed"] == 1, what="the refusal to be counted")


async def test_second_connection_resumes_the_tls_session(ca: CertificateAuthority, start_server: StartServer) -> None:
    server = await start_server(issue(ca, "b"))
    contexts = TlsContexts(issue(ca, "a"))
    resumed = []
    for _ in range(3):
        stream = await connect_mesh("127.0.0.1", server.port, contexts=contexts, expected={sid("b")})
        stream.writer.write(b"hi\n")
        assert await stream.reader.readline() == f"{sid('a')} hi\n".encode()  # server still knows the peer
        resumed.append(stream.resumed)
        assert peer_identity(stream.writer.get_extra_info("ssl_object")) == sid("b")
        stream.release()
    assert resumed == [False, True, True]
    assert sni_name("127.0.0.1", server.port) in contexts.client.sessions


async def test_listening_context_follows_renewals_through_sni_switching(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    """A server started with a fixed context (aiohttp, start_server) still uses the new certificate."""
    contexts = TlsContexts(issue(ca, "b"))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"ok\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=contexts.listening)
    port = server.sockets[0].getsockname()[1]
    client = TlsContexts(issue(ca, "a"))
    first = contexts.material.serial
    renewed = issue(ca, "b")
    contexts.update(renewed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client.client, server_hostname=None)
    writer.write(b"x\n")
    assert await reader.readline() == b"ok\n"
    peer_cert = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    from cryptography import x509

    assert x509.load_der_x509_certificate(peer_cert).serial_number == renewed.serial != first
    writer.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("intermediate", [False, True], ids=["root-signs", "intermediate-signs"])
async def test_during_root_rotation_old_and_new_trust_accept_each_other(
    tmp_path: Path, start_server: StartServer, intermediate: bool
) -> None:
    ca = CertificateAuthority.open(tmp_path / "ca", trust_domain=TD, intermediate=intermediate)
    old_a, old_b = issue(ca, "a"), issue(ca, "b")  # they trust only the old root
    ca.rotate()
    new_a, new_b = issue(ca, "a"), issue(ca, "b")  # under the new root; the bundle has both
    assert new_a.bundle_pem != old_a.bundle_pem
    for client, server in [(old_a, new_b), (new_a, old_b), (new_a, new_b)]:
        listener = await start_server(server)
        assert await _ask(client, listener.port, expected=sid("b")) == f"{sid('a')} hello\n".encode()
    ca.retire_old(force=True)
    newest_b = issue(ca, "b")  # the bundle holds only the new root now
    listener = await start_server(newest_b)
    assert await _ask(new_a, listener.port, expected=sid("b")) == f"{sid('a')} hello\n".encode()
    await _refused(old_a, listener.port)  # the old root is no longer trusted


async def test_without_the_cross_signed_root_old_trust_rejects_new_leaves(
    tmp_path: Path, start_server: StartServer
) -> None:
    """The control case for the test above: the cross-signed copy is what makes it work."""
    ca = CertificateAuthority.open(tmp_path / "ca", trust_domain=TD)
    old_a = issue(ca, "a")
    ca.rotate()
    new_b = issue(ca, "b")
    leaf_only = dataclasses.replace(
        new_b, chain_pem=new_b.chain_pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    listener = await start_server(leaf_only)
    with pytest.raises(ssl.SSLCertVerificationError):
        await _ask(old_a, listener.port, expected=sid("b"))


async def test_protocol_listener_sees_the_peer_identity_in_connection_made(ca: CertificateAuthority) -> None:
    """The seam for the sidecar's Protocol-based inbound acceptor."""
    seen: list[str | None] = []

    class Acceptor(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            seen.append(peer_identity(transport.get_extra_info("ssl_object")))

        def data_received(self, data: bytes) -> None:
            self.transport.write(data.upper())

    listener = InboundListener(protocol_factory=Acceptor, contexts=TlsContexts(issue(ca, "b")))
    await listener.start("127.0.0.1")
    try:
        client = TlsContexts(issue(ca, "a"))
        stream = await connect_mesh("127.0.0.1", listener.port, contexts=client, expected={sid("b")})
        stream.writer.write(b"hi\n")
        assert await stream.reader.readline() == b"HI\n"
        stream.release()
        assert seen == [sid("a")]
    finally:
        await listener.close()
