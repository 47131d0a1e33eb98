"""TLS for the control plane's own endpoints (the CA API and the config stream).

The control plane is a workload too: :class:`ControlPlaneTls` gives it a certificate from
its own CA (key made in-process, no CSR round trip) carrying its SPIFFE id *and* the DNS
names / IP addresses proxies dial, so proxies verify it with ordinary host-name checks
against the trust bundle.  The server context asks for a client certificate but does not
require one (``CERT_OPTIONAL``): a proxy has none yet when it first asks for one.  Handlers
that need an identified proxy (the config stream) call :func:`request_peer_identity`,
which returns the verified client's SPIFFE id or None.

The certificate is re-issued by :meth:`ControlPlaneTls.refresh` when half its lifetime has
passed (the workloads renew at 50-70 %) or the trust bundle changed.  Callers may call it
periodically, but the SNI callback of :attr:`ControlPlaneTls.listening` (which moves each
new handshake to the current context, so nothing is restarted) also refreshes when due:
with a short certificate lifetime (20 s in drills) a fixed one-minute timer left the control
plane's certificate expired for most of every minute, and every renewal failed against it.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from smi.identity import issuing, x509s
from smi.identity.authority import CertificateAuthority
from smi.proxyconfig.spiffe import spiffe_id


@contextlib.contextmanager
def _memfile(data: bytes) -> Iterator[str]:
    fd = os.memfd_create("smi-mesh-control-plane", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


class ControlPlaneTls:
    def __init__(
        self,
        ca: CertificateAuthority,
        *,
        namespace: str,
        service_account: str,
        dns_names: Sequence[str] = ("localhost",),
        ip_addresses: Sequence[str] = ("127.0.0.1",),
    ) -> None:
        self._ca = ca
        self.identity = spiffe_id(ca.trust_domain, namespace, service_account)
        self._names: tuple[x509.GeneralName, ...] = (
            *(x509.DNSName(n) for n in dns_names),
            *(x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses),
        )
        self._issued_at = x509s.utcnow()
        self._not_after = self._issued_at
        self._bundle = ""
        self._bundle_source: object = None
        self.context = self._build()
        self.listening = self._build()
        self.listening.sni_callback = self._switch

    def _build(self) -> ssl.SSLContext:
        material = self._ca.material
        key = x509s.generate_key()
        now = x509s.utcnow()
        builder_csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
        csr = builder_csr.sign(key, hashes.SHA256())
        leaf = issuing.build_leaf(
            material=material,
            csr=csr,
            identity=self.identity,
            lifetime=self._ca.leaf_lifetime,
            now=now,
            extra_names=self._names,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.verify_mode = ssl.CERT_OPTIONAL
        self._bundle_source = material.bundle
        self._bundle = self._ca.trust_bundle_pem
        context.load_verify_locations(cadata=self._bundle)
        with _memfile(issuing.chain_pem(leaf, material).encode() + x509s.key_to_pem(key)) as path:
            context.load_cert_chain(path)
        self._issued_at, self._not_after = now, leaf.not_valid_after_utc
        return context

    def refresh(self) -> bool:
        """Re-issue when half the lifetime has passed or the trust bundle changed."""
        now = x509s.utcnow()
        half = self._issued_at + (self._not_after - self._issued_at) / 2
        if now < half and self._bundle == self._ca.trust_bundle_pem:
            self._bundle_source = self._ca.material.bundle
            return False
        self.context = self._build()
        return True

    @property
    def not_after(self) -> datetime.datetime:
        return self._not_after

    def _switch(self, ssl_object: Any, server_name: str | None, context: ssl.SSLContext) -> None:
        # cheap checks on every handshake: the time, and whether the CA's bundle object changed
        due = x509s.utcnow() >= self._issued_at + (self._not_after - self._issued_at) / 2
        if due or self._ca.material.bundle is not self._bundle_source:
            with contextlib.suppress(Exception):  # keep the current certificate; the periodic refresh logs why
                self.refresh()
        if ssl_object.context is not self.context:
            ssl_object.context = self.context


def request_peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The verified client certificate of an aiohttp request over TLS, if any."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return x509.load_der_x509_certificate(der) if der else None


def request_peer_identity(request: web.Request) -> str | None:
    """The SPIFFE id of the verified client certificate of an aiohttp request, if any."""
    cert = request_peer_certificate(request)
    if cert is None:
        return None
    return next((uri for uri in x509s.uri_sans(cert) if uri.startswith("spiffe://")), None)
