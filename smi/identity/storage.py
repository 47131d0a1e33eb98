"""Where the CA's material lives: a directory, or a ``kubernetes.io/tls``-style Secret.

Both use the same names::

    ca.crt    the trust bundle: every trusted root, the active one first
    tls.crt   the signing certificate (root or intermediate), then any cross-signed root
    tls.key   the signing key                                  (file mode 0600)
    root.key  the active root's key, only with an intermediate (file mode 0600)

``load_or_create()`` generates a CA only when the directory is absent or empty.  A
directory with anything else in it is loaded, and any missing, unreadable or inconsistent
part is an error (:class:`CAStoreError`): the CA is never regenerated silently, because a
new root would make every workload distrust every other.

Writes go to a temporary file and are renamed into place.  The bundle is written first,
so a crash mid-rotation leaves a bundle that trusts both roots.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509

from smi.identity import material as materials
from smi.identity import x509s
from smi.identity.errors import CAStoreError

BUNDLE = "ca.crt"
CHAIN = "tls.crt"
KEY = "tls.key"
ROOT_KEY = "root.key"
KEY_MODE = 0o600


def _parse(parts: Mapping[str, bytes], *, trust_domain: str | None, where: str) -> materials.CAMaterial:
    for name in (BUNDLE, CHAIN, KEY):
        if name not in parts:
            raise CAStoreError(f"{where}: {name} is missing (expected {BUNDLE}, {CHAIN} and {KEY})")
    try:
        bundle = x509s.certs_from_pem(parts[BUNDLE])
        chain = x509s.certs_from_pem(parts[CHAIN])
        key = x509s.key_from_pem(parts[KEY])
        root_key = x509s.key_from_pem(parts[ROOT_KEY]) if ROOT_KEY in parts else None
    except ValueError as e:
        raise CAStoreError(f"{where}: cannot parse the CA files: {e}") from e
    if not chain:
        raise CAStoreError(f"{where}: {CHAIN} holds no certificate")
    if not bundle:
        raise CAStoreError(f"{where}: {BUNDLE} holds no certificate")
    found = next((td for td in (x509s.trust_domain_of(c) for c in bundle) if td), None)
    domain = trust_domain or found
    if domain is None:
        raise CAStoreError(f"{where}: the root names no trust domain (spiffe://<td> URI SAN); pass one")
    material = materials.CAMaterial(
        trust_domain=domain,
        signer_key=key,
        signer_cert=chain[0],
        bundle=tuple(bundle),
        extra_chain=tuple(chain[1:]),
        root_key=root_key,
    )
    try:
        return materials.validate(material)
    except CAStoreError as e:
        raise CAStoreError(f"{where}: {e}") from e


def to_parts(material: materials.CAMaterial) -> dict[str, bytes]:
    parts = {
        BUNDLE: x509s.certs_to_pem(material.bundle),
        CHAIN: x509s.certs_to_pem((material.signer_cert, *material.extra_chain)),
        KEY: x509s.key_to_pem(material.signer_key),
    }
    if material.has_intermediate and material.root_key is not None:
        parts[ROOT_KEY] = x509s.key_to_pem(material.root_key)
    return parts


def load_directory(path: Path, *, trust_domain: str | None = None) -> materials.CAMaterial:
    if not path.is_dir():
        raise CAStoreError(f"{path}: not a directory")
    parts: dict[str, bytes] = {}
    for name in (BUNDLE, CHAIN, KEY, ROOT_KEY):
        try:
            parts[name] = (path / name).read_bytes()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise CAStoreError(f"{path / name}: cannot read: {e.strerror}") from e
    return _parse(parts, trust_domain=trust_domain, where=str(path))


def save_directory(path: Path, material: materials.CAMaterial) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    parts = to_parts(material)
    for name in (BUNDLE, KEY, ROOT_KEY, CHAIN):  # bundle first: it must trust what follows
        if name not in parts:
            if name == ROOT_KEY:
                (path / name).unlink(missing_ok=True)
            continue
        tmp = path / f".{name}.tmp"
        mode = KEY_MODE if name.endswith(".key") else 0o644
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, parts[name])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path / name)


def load_or_create(path: Path, *, trust_domain: str, intermediate: bool = False) -> tuple[materials.CAMaterial, bool]:
    """Load the CA from ``path``, or create one there if the directory is absent or empty."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        material = load_directory(path)
        if material.trust_domain != trust_domain:
            raise CAStoreError(f"{path}: the CA serves trust domain {material.trust_domain!r}, not {trust_domain!r}")
        return material, False
    material = materials.generate(trust_domain=trust_domain, intermediate=intermediate)
    save_directory(path, material)
    return material, True


def from_secret_data(
    data: Mapping[str, str | bytes], *, trust_domain: str | None = None, where: str = "Secret"
) -> materials.CAMaterial:
    """Material from a Secret's ``data`` (base64 values, as the API returns them)."""
    parts: dict[str, bytes] = {}
    for name, value in data.items():
        try:
            parts[name] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as e:
            raise CAStoreError(f"{where}: data.{name} is not valid base64") from e
    return _parse(parts, trust_domain=trust_domain, where=where)


def to_secret_data(material: materials.CAMaterial) -> dict[str, str]:
    return {name: base64.b64encode(value).decode() for name, value in to_parts(material).items()}


def describe(cert: x509.Certificate) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "sha256": x509s.fingerprint(cert),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }
