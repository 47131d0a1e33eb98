"""The webhook CA and the serving certificates the control plane issues from it.

Why a CA of its own and not the mesh CA: the API server trusts whatever is in a webhook's
``caBundle`` for *every* call it makes to that webhook, and the mesh CA signs a certificate
for any workload that proves its ServiceAccount.  Keeping the two apart means no workload
certificate can ever be presented as the admission or conversion endpoint, the mesh root
can be rotated (docs/identity.md) without touching the admission path, and the webhook
CA's key is only ever read by the control plane.

* ``new_webhook_ca()``: made once by ``smi install`` into Secret ``smi-webhook-ca``
  (``ca.crt``, ``ca.key``; never overwritten), valid ten years.
* ``ServingCertificate``: each ``smi webhook`` replica makes its own key and a short-lived
  certificate for the Service's DNS names, signed by that CA, re-issued at half its life
  (and whenever the CA files change on disk, e.g. a rotated Secret), and swapped into the
  listening context by an SNI callback, so no restart and no dropped connection.
  ``smi metrics-api --ca-dir`` serves the aggregated APIs the same way (with ``configure``
  adding the front proxy's client CA to every context it builds); ``keep_fresh`` is the loop
  both run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smi.identity import x509s

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CA_LIFETIME = datetime.timedelta(days=3650)
SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class WebhookCA:
    cert_pem: bytes
    key_pem: bytes

    def files(self) -> dict[str, bytes]:
        return {CA_CERT: self.cert_pem, CA_KEY: self.key_pem}


def new_webhook_ca(*, now: datetime.datetime | None = None) -> WebhookCA:
    now = now or x509s.utcnow()
    key = x509s.generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smi-mesh"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "smi-mesh webhook CA")])  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - SKEW)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509s.key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return WebhookCA(cert_pem=x509s.certs_to_pem([cert]), key_pem=x509s.key_to_pem(key))


def load_webhook_ca(directory: Path) -> WebhookCA:
    """The CA from a directory (the mounted Secret); ValueError naming the file and the reason."""
    try:
        cert_pem, key_pem = (directory / CA_CERT).read_bytes(), (directory / CA_KEY).read_bytes()
    except OSError as e:
        raise ValueError(f"{directory}: cannot read the webhook CA: {e.strerror}: {e.filename}") from None
    try:
        certs = x509s.certs_from_pem(cert_pem)
        key = x509s.key_from_pem(key_pem)
    except ValueError as e:
        raise ValueError(f"{directory}: the webhook CA is not valid PEM: {e}") from None
    if not certs or not x509s.same_public_key(key, certs[0]):
        raise ValueError(f"{directory}: {CA_KEY} is not the key of {CA_CERT}")
    return WebhookCA(cert_pem=cert_pem, key_pem=key_pem)


def issue_serving(
    ca: WebhookCA, *, dns_names: Sequence[str], lifetime: datetime.timedelta, now: datetime.datetime | None = None
) -> tuple[bytes, bytes, datetime.datetime]:
    """(certificate chain PEM, key PEM, not_after) for a server with these DNS names."""
    now = now or x509s.utcnow()
    issuer = x509s.certs_from_pem(ca.cert_pem)[0]
    issuer_key = x509s.key_from_pem(ca.key_pem)
    key = x509s.generate_key()
    not_after = min(now + lifetime, issuer.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509s.key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    return x509s.certs_to_pem([cert]), x509s.key_to_pem(key), not_after


def service_dns_names(service: str, namespace: str) -> tuple[str, ...]:
    return (f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}")


class ServingCertificate:
    """A server TLS context whose certificate the process issues and rotates itself."""

    def __init__(
        self,
        ca_dir: Path,
        *,
        dns_names: Sequence[str],
        lifetime: datetime.timedelta,
        configure: Callable[[ssl.SSLContext], None] | None = None,
    ) -> None:
        self.ca_dir = ca_dir
        self.configure = configure
        self.dns_names = tuple(dns_names)
        self.lifetime = lifetime
        self.issued = 0
        self._ca = load_webhook_ca(ca_dir)
        self.not_before = self.not_after = x509s.utcnow()
        self.serial = 0
        self.context = self._build()
        self.listening = self._build()
        self.listening.sni_callback = self._switch

    def _build(self) -> ssl.SSLContext:
        now = x509s.utcnow()
        chain, key, not_after = issue_serving(self._ca, dns_names=self.dns_names, lifetime=self.lifetime, now=now)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # an anonymous in-memory file: the container's root filesystem is read-only, and the
        # key never touches a disk
        fd = os.memfd_create("smi-webhook-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, chain + key)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        if self.configure is not None:
            self.configure(context)
        self.not_before, self.not_after = now, not_after
        self.serial = x509s.certs_from_pem(chain)[0].serial_number
        self.issued += 1
        return context

    def refresh(self) -> bool:
        """Re-issue at half the lifetime, or when the CA on disk changed; True when re-issued."""
        try:
            ca = load_webhook_ca(self.ca_dir)
        except ValueError:
            ca = self._ca  # a Secret being rewritten: keep the last good CA
        half = self.not_before + (self.not_after - self.not_before) / 2
        if ca == self._ca and x509s.utcnow() < half:
            return False
        self._ca = ca
        self.context = self._build()
        return True

    def _switch(self, ssl_object: Any, server_name: str | None, context: ssl.SSLContext) -> None:
        if ssl_object.context is not self.context:
            ssl_object.context = self.context


async def keep_fresh(serving: ServingCertificate, stop: asyncio.Event) -> None:
    """Re-issue the serving certificate at half its life (checked every tenth of it, at most 30 s)."""
    log = logging.getLogger(__name__)
    period = min(max(serving.lifetime.total_seconds() / 10, 0.1), 30.0)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=period)
        try:
            if serving.refresh():
                log.info("Serving certificate re-issued (serial %x, until %s)", serving.serial,
                         serving.not_after.isoformat())  # fmt: skip
        except Exception as e:  # keep serving with the current certificate
            log.warning("Re-issuing the serving certificate failed: %r", e)
