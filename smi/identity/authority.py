"""The mesh's certificate authority: signs workload certificates, owns the trust bundle.

A :class:`CertificateAuthority` wraps the current :class:`~smi.identity.material.CAMaterial`
and, when it has one, the directory it is persisted in.  It issues leaves for CSRs whose
identity was proven by an authenticator, and runs the root rotation procedure:

1. ``rotate()``: a new root joins the bundle; leaves are now signed under it and carry a
   copy of it cross-signed by the old root, so peers that still trust only the old root
   accept them.
2. Workloads renew (well before expiry) and receive the bundle with both roots.
3. ``retire_old()``: once every leaf issued under the old root has expired (one leaf
   lifetime after ``rotate()``), the old root leaves the bundle.  ``force=True`` skips the wait.

``refresh()`` picks up changes made to the directory by ``smi ca rotate`` / ``smi ca retire``.
"""

from __future__ import annotations

import collections
import datetime
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smi.identity import issuing, storage, x509s
from smi.identity import material as materials
from smi.identity.authenticating import WorkloadIdentity
from smi.identity.errors import CsrRejected, RotationError

logger = logging.getLogger(__name__)

DEFAULT_LEAF_LIFETIME = datetime.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    identity: str
    certificate_chain: str  # PEM: the leaf, then intermediates / cross-signed root
    trust_bundle: str  # PEM: every trusted root
    expires_at: datetime.datetime
    serial: int

    def as_json(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "certificate_chain": self.certificate_chain,
            "trust_bundle": self.trust_bundle,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CAStatus:
    trust_domain: str
    intermediate: bool
    rotating: bool
    active_root: Mapping[str, str]
    signer: Mapping[str, str]
    bundle: tuple[Mapping[str, str], ...]
    issued: int = 0
    refused: Mapping[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "trust_domain": self.trust_domain,
            "intermediate": self.intermediate,
            "rotating": self.rotating,
            "active_root": dict(self.active_root),
            "signer": dict(self.signer),
            "bundle": [dict(b) for b in self.bundle],
            "issued": self.issued,
            "refused": dict(self.refused),
        }


class CertificateAuthority:
    def __init__(
        self,
        material: materials.CAMaterial,
        *,
        directory: Path | None = None,
        leaf_lifetime: datetime.timedelta = DEFAULT_LEAF_LIFETIME,
        clock: Callable[[], datetime.datetime] = x509s.utcnow,
    ) -> None:
        if leaf_lifetime <= datetime.timedelta(0):
            raise ValueError(f"leaf_lifetime must be positive, got {leaf_lifetime}")
        self._material = materials.validate(material)
        self._directory = directory
        self._stamp = self._dir_stamp()
        self._lock = threading.Lock()
        self.leaf_lifetime = leaf_lifetime
        self._clock = clock
        self.issued = 0
        self.refused: collections.Counter[str] = collections.Counter()

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        trust_domain: str,
        intermediate: bool = False,
        leaf_lifetime: datetime.timedelta = DEFAULT_LEAF_LIFETIME,
    ) -> CertificateAuthority:
        """Load the CA kept in ``directory``, or create it there at first start."""
        material, created = storage.load_or_create(directory, trust_domain=trust_domain, intermediate=intermediate)
        root = x509s.fingerprint(material.active_root)
        logger.info("%s CA for %s in %s, root %s", "Created" if created else "Loaded", trust_domain, directory, root)
        return cls(material, directory=directory, leaf_lifetime=leaf_lifetime)

    @classmethod
    def from_secret(
        cls,
        data: Mapping[str, str | bytes],
        *,
        trust_domain: str | None = None,
        leaf_lifetime: datetime.timedelta = DEFAULT_LEAF_LIFETIME,
        where: str = "Secret",
    ) -> CertificateAuthority:
        material = storage.from_secret_data(data, trust_domain=trust_domain, where=where)
        return cls(material, leaf_lifetime=leaf_lifetime)

    @property
    def material(self) -> materials.CAMaterial:
        return self._material

    @property
    def trust_domain(self) -> str:
        return self._material.trust_domain

    @property
    def trust_bundle_pem(self) -> str:
        return x509s.certs_to_pem(self._material.bundle).decode()

    def issue(self, csr_pem: bytes, *, identity: WorkloadIdentity) -> IssuedCertificate:
        """Sign a CSR for the authenticated ``identity``; refuse one asking for anything else."""
        try:
            csr = issuing.parse_csr(csr_pem)
            wanted = identity.spiffe_id(self.trust_domain)
            asked = issuing.requested_identity(csr)
            if asked != wanted:
                raise CsrRejected(
                    f"{identity} may only get a certificate for {wanted}, but the CSR asks for {asked}",
                    forbidden=True,
                )
        except CsrRejected as e:
            self.refused["forbidden" if e.forbidden else "bad_csr"] += 1
            logger.warning("Refused a CSR from %s: %s", identity, e.reason)
            raise
        material = self._material
        leaf = issuing.build_leaf(
            material=material, csr=csr, identity=wanted, lifetime=self.leaf_lifetime, now=self._clock()
        )
        self.issued += 1
        logger.debug("Issued %s until %s", wanted, leaf.not_valid_after_utc.isoformat())
        return IssuedCertificate(
            identity=wanted,
            certificate_chain=issuing.chain_pem(leaf, material),
            trust_bundle=x509s.certs_to_pem(material.bundle).decode(),
            expires_at=leaf.not_valid_after_utc,
            serial=leaf.serial_number,
        )

    def rotate(self) -> CAStatus:
        with self._lock:
            self._set(materials.rotated(self._material))
        logger.info("Root rotation started: new root %s", x509s.fingerprint(self._material.active_root))
        return self.status()

    def retire_old(self, *, force: bool = False) -> CAStatus:
        with self._lock:
            material = self._material
            if material.rotating and not force:
                safe = materials.rotated_at(material) + self.leaf_lifetime
                if self._clock() < safe:
                    raise RotationError(
                        f"leaves issued under the old root may be valid until {safe.isoformat()}; "
                        "retire after that (or force it)"
                    )
            self._set(materials.retired(material))
        logger.info("Old roots retired; trust bundle holds only %s", x509s.fingerprint(self._material.active_root))
        return self.status()

    def refresh(self) -> bool:
        """Reload from the directory if it changed on disk (e.g. by ``smi ca rotate``)."""
        if self._directory is None:
            return False
        stamp = self._dir_stamp()
        if stamp == self._stamp:
            return False
        with self._lock:
            self._material = storage.load_directory(self._directory, trust_domain=self.trust_domain)
            self._stamp = stamp
        logger.info("Reloaded the CA from %s", self._directory)
        return True

    def status(self) -> CAStatus:
        material = self._material
        return CAStatus(
            trust_domain=material.trust_domain,
            intermediate=material.has_intermediate,
            rotating=material.rotating,
            active_root=storage.describe(material.active_root),
            signer=storage.describe(material.signer_cert),
            bundle=tuple(storage.describe(c) for c in material.bundle),
            issued=self.issued,
            refused=dict(self.refused),
        )

    def _set(self, material: materials.CAMaterial) -> None:
        materials.validate(material)
        if self._directory is not None:
            storage.save_directory(self._directory, material)
            self._stamp = self._dir_stamp()
        self._material = material

    def _dir_stamp(self) -> tuple[int, ...]:
        if self._directory is None:
            return ()
        stamp: list[int] = []
        for name in (storage.BUNDLE, storage.CHAIN, storage.KEY, storage.ROOT_KEY):
            try:
                st = (self._directory / name).stat()
                stamp += [st.st_mtime_ns, st.st_ino, st.st_size]
            except FileNotFoundError:
                stamp += [0, 0, 0]
        return tuple(stamp)
