"""SSLContext factories for mesh mTLS, and reading the verified peer's identity.

* :func:`server_context`: TLS 1.3 only, a client certificate is required and verified
  against the trust bundle.
* :func:`client_context`: TLS 1.3 only, the server chain is verified against the bundle;
  host names are not checked (``check_hostname=False``): the caller checks the peer's
  SPIFFE id after the handshake (:func:`verify_peer`).  The context keeps TLS 1.3 session
  tickets per server name and offers them on the next connection (resumption), never past
  either certificate's expiry.
* :func:`refuse_expired_resumption`: the server side of that rule.
* :func:`peer_identity`: the ``spiffe://`` URI SAN of the verified peer certificate.

``ssl`` loads certificates only from files.  The key is handed to OpenSSL through an
anonymous in-memory file (``memfd_create``), so it never touches a disk; where that is not
available a 0600 file in a private temporary directory is used and removed at once.

``cryptography`` (~10 MB) is imported only when a key is loaded (``load_material``), so
importing this module costs nothing when mTLS is off.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import time
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxy.identity.material import WorkloadMaterial


class PeerIdentityRejected(ConnectionError):
    """The peer proved an identity other than the ones expected (or none)."""

    def __init__(self, message: str, *, peer: str | None) -> None:
        super().__init__(message)
        self.peer = peer


@contextlib.contextmanager
def _pem_file(data: bytes) -> Iterator[str]:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("smi-mesh-identity", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="smi-mesh-") as tmp:  # pragma: no cover - non-Linux
        path = os.path.join(tmp, "identity.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            yield path
        finally:
            os.unlink(path)


def load_material(context: ssl.SSLContext, material: WorkloadMaterial) -> None:
    """(Re)load the workload's chain and key into ``context``; affects only new handshakes.

    A resuming client context keeps the sessions made with the previous certificate: each
    is still bounded by the expiry recorded when it was made.
    """
    from proxy.identity.keys import key_pem

    with _pem_file(material.chain_pem.encode() + key_pem(material.key)) as path:
        context.load_cert_chain(path)
    if isinstance(context, ResumingClientContext):
        context.not_after = material.not_after.timestamp()


def _tls13(context: ssl.SSLContext, material: WorkloadMaterial) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=material.bundle_pem)
    load_material(context, material)
    return context


def server_context(material: WorkloadMaterial) -> ssl.SSLContext:
    context = _tls13(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), material)
    context.set_alpn_protocols(["h2", "http/1.1"])  # sidecars multiplex HTTP/2 (proxy.http2); others offer none
    return context


RESUMPTION_MARGIN = 1.0  # seconds before a certificate's expiry when its sessions stop being offered


class ResumingClientContext(ssl.SSLContext):
    """A client context that offers the last session ticket a server gave for the same name.

    asyncio has no parameter for a TLS session, but it builds every connection with
    ``wrap_bio(..., server_hostname=...)``; this is where the cached session is attached.
    TLS 1.3 tickets arrive *after* the handshake, so :meth:`remember` is called once the
    connection has read data (or when it is released).

    Two rules keep resumption safe and memory flat:

    * a session is offered only until the earlier of the two certificates it was made with
      expires (the peer's and our own) and its ticket's lifetime: a resumed handshake checks
      no certificate, so resumption must never outlive them;
    * a resumed connection's new ticket is not fetched while the cached session is usable:
      on CPython 3.11 every read of ``SSLObject.session`` leaks a duplicate of the session
      (the getter's ``_ssl_session_dup`` copy is overwritten and never freed; ~6 KB with the
      peer's chain), which grew a sidecar by ~6 KB per new upstream connection.  When the
      cached session expires, the next full handshake's session is cached instead.
    """

    sessions: dict[str, ssl.SSLSession]
    session_expiry: dict[str, float]  # server name -> time.time() after which its session is not offered
    not_after: float  # our own certificate's expiry (time.time() scale); inf when unknown

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        if session is None and isinstance(server_hostname, str):
            session = self.usable_session(server_hostname)
        ssl_object = super().wrap_bio(
            incoming, outgoing, server_side=server_side, server_hostname=server_hostname, session=session
        )
        # the certificate this handshake presents is the one loaded now: a renewal may replace
        # it before the connection's session is remembered
        ssl_object.own_not_after = self.not_after  # type: ignore[attr-defined]
        return ssl_object

    def usable_session(self, name: str, *, now: float | None = None) -> ssl.SSLSession | None:
        """The cached session for ``name`` while it is safe to resume (dropped once it is not)."""
        session = self.sessions.get(name)
        if session is None:
            return None
        if (time.time() if now is None else now) >= self.session_expiry.get(name, 0.0):
            self.forget(name)
            return None
        return session

    def forget(self, name: str) -> None:
        self.sessions.pop(name, None)
        self.session_expiry.pop(name, None)

    def remember(self, ssl_object: Any) -> None:
        name = getattr(ssl_object, "server_hostname", None)
        if not isinstance(name, str):
            return
        if getattr(ssl_object, "session_reused", False) and self.usable_session(name) is not None:
            return  # keep the session of the full handshake (see the class docstring)
        session = getattr(ssl_object, "session", None)  # read once: every read allocates a copy
        if session is None or not session.has_ticket:
            return
        lifetime = min(session.timeout, session.ticket_lifetime_hint or session.timeout)
        # stop offering it a margin early: the server checks the same expiry a moment later
        own = getattr(ssl_object, "own_not_after", self.not_after)
        expiry = min(session.time + lifetime, own, _peer_not_after(ssl_object)) - RESUMPTION_MARGIN
        if expiry <= time.time():
            return
        if len(self.sessions) > 4096:
            self.sessions.clear()
            self.session_expiry.clear()
        self.sessions[name] = session
        self.session_expiry[name] = expiry


def _peer_not_after(ssl_object: Any) -> float:
    """The verified peer certificate's expiry (time.time() scale); now when there is none."""
    try:
        cert = ssl_object.getpeercert()
        return float(ssl.cert_time_to_seconds(cert["notAfter"]))
    except (AttributeError, KeyError, TypeError, ValueError, ssl.SSLError):
        return time.time()


def refuse_expired_resumption(ssl_object: Any, *, now: float | None = None) -> bool:
    """True when a resumed handshake carries a peer certificate that has expired since.

    A resumed TLS 1.3 handshake checks no certificate: the server must not accept a
    client's identity past its certificate's expiry just because it holds a ticket.
    """
    if ssl_object is None or not getattr(ssl_object, "session_reused", False):
        return False
    return (time.time() if now is None else now) >= _peer_not_after(ssl_object)


def client_context(material: WorkloadMaterial) -> ResumingClientContext:
    context = ResumingClientContext(ssl.PROTOCOL_TLS_CLIENT)
    context.sessions = {}
    context.session_expiry = {}
    context.not_after = material.not_after.timestamp()
    context.check_hostname = False
    return _tls13(context, material)  # type: ignore[return-value]


def sni_name(host: str, port: int) -> str:
    """A server name for SNI and the session cache: one per peer address (never checked)."""
    label = "".join(c if c.isalnum() else "-" for c in host).strip("-") or "peer"
    return f"{label}-{port}.mesh.invalid"


def peer_identity(ssl_object: Any) -> str | None:
    """The SPIFFE id of the peer's verified certificate, or None without one.

    Read from OpenSSL's decoded certificate (``getpeercert()``), which is only given for a
    certificate that was verified; no certificate parsing of our own on the data path.
    """
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    return next(
        (value for kind, value in cert.get("subjectAltName", ()) if kind == "URI" and value.startswith("spiffe://")),
        None,
    )


def verify_peer(ssl_object: Any, expected: Collection[str]) -> str:
    """The peer's identity if it is one of ``expected``; raise :class:`PeerIdentityRejected` if not."""
    peer = peer_identity(ssl_object)
    if peer is None or peer not in expected:
        wanted = ", ".join(sorted(expected)) or "(none)"
        raise PeerIdentityRejected(f"the peer is {peer or 'unidentified'}; expected {wanted}", peer=peer)
    return peer


def control_plane_client_context(bundle_pem: str, material: WorkloadMaterial | None = None) -> ssl.SSLContext:
    """For the CA API and the config stream: the server's host name *is* checked (DNS/IP SANs).

    With ``material`` the proxy also presents its certificate, which identifies it to the
    config server.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cadata=bundle_pem)
    if material is not None:
        load_material(context, material)
    return context
