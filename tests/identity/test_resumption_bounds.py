"""TLS session resumption never outlives the certificates it was made with, and costs no memory per connection."""

from __future__ import annotations

import ssl

from proxy.identity import connect_mesh
from proxy.identity.contexts import refuse_expired_resumption, sni_name
from proxy.identity.switching import TlsContexts
from smi.identity import CertificateAuthority
from tests.identity.conftest import StartServer, issue, sid


async def test_a_session_is_not_offered_past_the_peer_certificate(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    server_material = issue(ca, "b")
    server = await start_server(server_material)
    contexts = TlsContexts(issue(ca, "a"))
    stream = await connect_mesh("127.0.0.1", server.port, contexts=contexts, expected={sid("b")})
    stream.writer.write(b"hi\n")
    await stream.reader.readline()
    stream.release()
    name = sni_name("127.0.0.1", server.port)
    peer_expiry = server_material.not_after.timestamp()
    assert contexts.client.usable_session(name) is not None
    assert contexts.client.session_expiry[name] <= peer_expiry
    assert contexts.client.usable_session(name, now=peer_expiry) is None  # dropped, not offered
    assert name not in contexts.client.sessions


async def test_a_session_is_not_offered_past_our_own_certificate(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    server = await start_server(issue(ca, "b"))
    own = issue(ca, "a")
    contexts = TlsContexts(own)
    stream = await connect_mesh("127.0.0.1", server.port, contexts=contexts, expected={sid("b")})
    stream.writer.write(b"hi\n")
    await stream.reader.readline()
    stream.release()
    name = sni_name("127.0.0.1", server.port)
    assert contexts.client.session_expiry[name] <= own.not_after.timestamp()


async def test_the_server_refuses_a_resumption_past_the_client_certificate(
    ca: CertificateAuthority, start_server: StartServer
) -> None:
    server = await start_server(issue(ca, "b"))
    own = issue(ca, "a")
    contexts = TlsContexts(own)
    for expect_resumed in (False, True):
        stream = await connect_mesh("127.0.0.1", server.port, contexts=contexts, expected={sid("b")})
        stream.writer.write(b"hi\n")
        await stream.reader.readline()
        ssl_object = stream.writer.get_extra_info("ssl_object")
        assert stream.resumed is expect_resumed
        # the rule the inbound listener applies, seen from the same handshake's peer certificate
        later = ssl.cert_time_to_seconds(ssl_object.getpeercert()["notAfter"])
        assert refuse_expired_resumption(ssl_object, now=later) is expect_resumed
        assert refuse_expired_resumption(ssl_object, now=later - 60) is False
        stream.release()


async def test_resumed_connections_keep_the_first_session(ca: CertificateAuthority, start_server: StartServer) -> None:
    """A resumed connection's ticket is not fetched (each fetch leaks a session copy on CPython 3.11)."""
    server = await start_server(issue(ca, "b"))
    contexts = TlsContexts(issue(ca, "a"))
    name = sni_name("127.0.0.1", server.port)
    kept = None
    for i in range(4):
        stream = await connect_mesh("127.0.0.1", server.port, contexts=contexts, expected={sid("b")})
        stream.writer.write(b"hi\n")
        await stream.reader.readline()
        assert stream.resumed is (i > 0)
        stream.release()
        if kept is None:
            kept = contexts.client.sessions[name]
        assert contexts.client.sessions[name] is kept
