"""The CA's material as one immutable value, and the pure steps that change it.

``CAMaterial`` holds what the CA signs with and what workloads trust:

* ``signer_key`` / ``signer_cert``: the issuing CA (a self-signed root, or an intermediate);
* ``extra_chain``: certificates sent after the signer (a cross-signed root while a root
  rotation is in progress);
* ``bundle``: the trusted roots, the active one first;
* ``root_key``: the active root's key when the signer is an intermediate (rotation needs it).

Root rotation without a failed handshake (see docs/identity.md) is done by cross-signing:
``rotated()`` makes a new root *and* a copy of it signed by the old root.  New leaves carry
that copy in their chain, so a peer that still trusts only the old root can build
``leaf → new root (cross-signed) → old root``, while a peer holding the new bundle stops at
the new root.  ``retired()`` drops the old root and the cross-signed copy.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace

from cryptography import x509

from smi.identity import x509s
from smi.identity.errors import CAStoreError, RotationError
from smi.proxyconfig.spiffe import InvalidSpiffeId, check_trust_domain

ROOT_LIFETIME = datetime.timedelta(days=3650)
INTERMEDIATE_LIFETIME = datetime.timedelta(days=365)
CLOCK_SKEW = datetime.timedelta(minutes=5)  # CA certificates are back-dated by this much


@dataclass(frozen=True)
class CAMaterial:
    trust_domain: str
    signer_key: x509s.CAKey
    signer_cert: x509.Certificate
    bundle: tuple[x509.Certificate, ...]
    extra_chain: tuple[x509.Certificate, ...] = ()
    root_key: x509s.CAKey | None = None

    @property
    def has_intermediate(self) -> bool:
        return not x509s.is_self_signed(self.signer_cert)

    @property
    def active_root(self) -> x509.Certificate:
        if not self.has_intermediate:
            return self.signer_cert
        root = x509s.find_issuer(self.signer_cert, self.bundle)
        assert root is not None  # checked by validate()
        return root

    @property
    def active_root_key(self) -> x509s.CAKey | None:
        return self.root_key if self.has_intermediate else self.signer_key

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What follows a leaf in the chain a workload presents."""
        own = (self.signer_cert,) if self.has_intermediate else ()
        return own + self.extra_chain

    @property
    def rotating(self) -> bool:
        return len(self.bundle) > 1


def _stamp() -> str:
    return x509s.utcnow().strftime("%Y%m%d%H%M%S%f")


def _new_root(trust_domain: str, now: datetime.datetime) -> tuple[x509s.CAKey, x509.Certificate]:
    key = x509s.generate_key()
    name = x509s.ca_name(f"smi-mesh root CA {trust_domain} {_stamp()}")
    cert = x509s.build_ca_cert(
        subject=name,
        public_key=key.public_key(),
        issuer=name,
        issuer_key=key,
        trust_domain=trust_domain,
        not_before=now - CLOCK_SKEW,
        not_after=now + ROOT_LIFETIME,
        path_length=None,
    )
    return key, cert


def _new_intermediate(
    trust_domain: str, now: datetime.datetime, root_key: x509s.CAKey, root: x509.Certificate
) -> tuple[x509s.CAKey, x509.Certificate]:
    key = x509s.generate_key()
    cert = x509s.build_ca_cert(
        subject=x509s.ca_name(f"smi-mesh intermediate CA {trust_domain} {_stamp()}"),
        public_key=key.public_key(),
        issuer=root.subject,
        issuer_key=root_key,
        trust_domain=trust_domain,
        not_before=now - CLOCK_SKEW,
        not_after=min(now + INTERMEDIATE_LIFETIME, root.not_valid_after_utc),
        path_length=0,
    )
    return key, cert


def generate(*, trust_domain: str, intermediate: bool = False) -> CAMaterial:
    """A fresh CA: a new root, and an intermediate signed by it when asked."""
    check_trust_domain(trust_domain)
    now = x509s.utcnow()
    root_key, root = _new_root(trust_domain, now)
    if not intermediate:
        return CAMaterial(trust_domain=trust_domain, signer_key=root_key, signer_cert=root, bundle=(root,))
    key, cert = _new_intermediate(trust_domain, now, root_key, root)
    return CAMaterial(trust_domain=trust_domain, signer_key=key, signer_cert=cert, bundle=(root,), root_key=root_key)


def rotated(material: CAMaterial) -> CAMaterial:
    """Introduce a new root beside the old one; new leaves are signed under the new root."""
    if material.rotating:
        raise RotationError("a root rotation is already in progress: retire the old root first")
    old_root, old_key = material.active_root, material.active_root_key
    if old_key is None:
        raise RotationError("rotation needs the current root's key (root.key), which this CA does not hold")
    now = x509s.utcnow()
    td = material.trust_domain
    new_key, new_root = _new_root(td, now)
    cross = x509s.build_ca_cert(
        subject=new_root.subject,
        public_key=new_key.public_key(),
        issuer=old_root.subject,
        issuer_key=old_key,
        trust_domain=td,
        not_before=now - CLOCK_SKEW,
        not_after=min(new_root.not_valid_after_utc, old_root.not_valid_after_utc),
        path_length=None,
    )
    bundle = (new_root, *material.bundle)
    if material.has_intermediate:
        key, cert = _new_intermediate(td, now, new_key, new_root)
        return CAMaterial(td, key, cert, bundle, extra_chain=(cross,), root_key=new_key)
    return CAMaterial(td, new_key, new_root, bundle, extra_chain=(cross,))


def rotated_at(material: CAMaterial) -> datetime.datetime:
    """When the active root was made (its not-before, corrected for the back-dating)."""
    return material.active_root.not_valid_before_utc + CLOCK_SKEW


def retired(material: CAMaterial) -> CAMaterial:
    """Drop every root but the active one, and the cross-signed copy."""
    if not material.rotating:
        raise RotationError("no old root to retire: the trust bundle holds only the active root")
    return replace(material, bundle=(material.active_root,), extra_chain=())


def validate(material: CAMaterial) -> CAMaterial:
    """Check the parts fit together; raise :class:`CAStoreError` saying which do not."""
    try:
        check_trust_domain(material.trust_domain)
    except InvalidSpiffeId as e:
        raise CAStoreError(str(e)) from e
    if not material.bundle:
        raise CAStoreError("ca.crt: the trust bundle holds no certificate")
    for cert in material.bundle:
        if not (x509s.is_ca(cert) and x509s.is_self_signed(cert)):
            raise CAStoreError(f"ca.crt: {cert.subject.rfc4514_string()} is not a self-signed CA certificate")
    if not x509s.is_ca(material.signer_cert):
        raise CAStoreError("tls.crt: the signing certificate is not a CA certificate")
    if not x509s.same_public_key(material.signer_key, material.signer_cert):
        raise CAStoreError("tls.key does not match the certificate in tls.crt")
    if material.has_intermediate:
        root = x509s.find_issuer(material.signer_cert, material.bundle)
        if root is None:
            raise CAStoreError("tls.crt: the intermediate is not signed by any root in ca.crt")
        if material.root_key is not None and not x509s.same_public_key(material.root_key, root):
            raise CAStoreError("root.key does not match the root that signed the intermediate")
    elif material.signer_cert not in material.bundle:
        raise CAStoreError("tls.crt: the signing root is not in the trust bundle ca.crt")
    found = x509s.trust_domain_of(material.active_root)
    if found is not None and found != material.trust_domain:
        raise CAStoreError(f"the root serves trust domain {found!r}, not {material.trust_domain!r}")
    return material
