"""The local runtime's mutual TLS: its CA, the control plane's TLS, and one bootstrap token per pod.

``smi up`` is the mesh's certificate authority (docs/identity.md, "What the local runtime
must do")::

    <state>/ca/            the CA (ca.crt, tls.crt, tls.key): created at the first start, loaded after
    <state>/trust-bundle.pem   the roots sidecars trust the control plane with (rewritten if they change)
    <state>/pods/<ns>/<pod>/bootstrap-token   0600, minted when the pod starts, revoked when it goes

``RuntimeTls.open()`` loads (or, on first start, creates) the CA; a directory that holds
something unusable is an error naming the file and the problem, never a silent new root
(a new root would make every sidecar distrust every other).  ``config_service_args()``
gives ``ConfigService`` its TLS, the CA API (under ``/ca``) and the certificate-checked
identity of each config stream; ``admit()`` hands a pod its token and ``sidecar_flags()``
the flags its sidecar needs.  Mode ``off`` has no ``RuntimeTls`` at all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smi.identity import BootstrapTokenAuthenticator, CertificateAuthority
from smi.model import Pod
from smi.state import Store

logger = logging.getLogger(__name__)

MTLS_MODES = ("strict", "permissive", "off")
CA_DIR = "ca"
BUNDLE_FILE = "trust-bundle.pem"
PODS_DIR = "pods"
TOKEN_FILE = "bootstrap-token"


class RuntimeTlsError(Exception):
    """The CA in the state dir cannot be used (names the directory, the file and the problem)."""


@dataclass(frozen=True, slots=True)
class PodCredentials:
    service_account: str
    token_file: Path


def _write_private(path: Path, text: str, *, mode: int) -> None:
    """Write atomically with ``mode`` from the start (the token is never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


def _private_dirs(top: Path, leaf: Path) -> None:
    """``top`` and every folder down to ``leaf`` exist with mode 0700 (only the runtime's user enters)."""
    leaf.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (leaf, *leaf.parents):
        folder.chmod(0o700)
        if folder == top:
            break


class RuntimeTls:
    def __init__(self, *, state_dir: Path, mode: str, ca: CertificateAuthority, runtime_address: str) -> None:
        if mode not in ("strict", "permissive"):
            raise ValueError(f"mtls: RuntimeTls is for strict or permissive, got {mode!r}")
        self.state_dir = state_dir
        self.mode = mode
        self.ca = ca
        self.runtime_address = runtime_address
        self.tokens = BootstrapTokenAuthenticator()
        self.bundle_path = state_dir / BUNDLE_FILE
        self._bundle_written = ""
        self.write_bundle()

    @classmethod
    def open(
        cls, *, state_dir: Path, mode: str, trust_domain: str, runtime_address: str, cert_lifetime: float | None = None
    ) -> RuntimeTls:
        """``cert_lifetime`` (seconds): the workloads' and the control plane's certificates (default: the CA's)."""
        import datetime

        from smi.identity import CAStoreError
        from smi.identity.authority import DEFAULT_LEAF_LIFETIME

        directory = state_dir / CA_DIR
        lifetime = DEFAULT_LEAF_LIFETIME if cert_lifetime is None else datetime.timedelta(seconds=cert_lifetime)
        try:
            ca = CertificateAuthority.open(directory, trust_domain=trust_domain, leaf_lifetime=lifetime)
        except (CAStoreError, OSError, ValueError) as e:
            where = "" if str(directory) in str(e) else f"{directory}: "
            raise RuntimeTlsError(
                f"the mesh CA cannot be used: {where}{e} (fix it, or remove the directory to start a new CA that "
                "nothing issued under the old one trusts)"
            ) from e
        return cls(state_dir=state_dir, mode=mode, ca=ca, runtime_address=runtime_address)

    # -- the control plane -----------------------------------------------------------------

    def config_service_args(self, store: Store) -> dict[str, Any]:
        """``ConfigService`` keyword arguments: TLS, the CA API and the proxies' identity check."""
        from smi.distribution.identity import CertificateIdentity, pod_identities
        from smi.identity.server import make_app
        from smi.identity.serving import ControlPlaneTls

        addresses = tuple(dict.fromkeys(("127.0.0.1", self.runtime_address)))
        return {
            "tls": ControlPlaneTls(
                self.ca, namespace="smi-system", service_account="smi-controller", ip_addresses=addresses
            ),
            "ca_app": make_app(self.ca, self.tokens),
            "identity": CertificateIdentity(pod_identities(store, trust_domain=self.ca.trust_domain)),
        }

    def write_bundle(self) -> Path:
        """Write the CA's trust bundle for the sidecars (again only when it changed, e.g. a rotation)."""
        try:
            self.ca.refresh()
        except Exception:  # a half-edited CA dir must not stop pods from starting: keep the loaded one
            logger.exception("Cannot reload the CA from %s; keeping the one in memory", self.state_dir / CA_DIR)
        bundle = self.ca.trust_bundle_pem
        if bundle != self._bundle_written:
            _write_private(self.bundle_path, bundle, mode=0o644)
            self._bundle_written = bundle
        return self.bundle_path

    # -- pods ------------------------------------------------------------------------------

    def pod_dir(self, namespace: str, pod: str) -> Path:
        return self.state_dir / PODS_DIR / namespace / pod

    def admit(self, pod: Pod) -> PodCredentials:
        """Mint the pod's one-time bootstrap token (any earlier one of that pod is revoked) into a 0600 file.

        The sidecar spends it on its first certificate and renews with that certificate; call
        again before every sidecar (re)start.
        """
        account = pod.spec.service_account or "default"
        token = self.tokens.mint(
            namespace=pod.meta.namespace, pod=pod.meta.name, service_account=account, one_time=True
        )
        path = self.pod_dir(pod.meta.namespace, pod.meta.name) / TOKEN_FILE
        _private_dirs(self.state_dir / PODS_DIR, path.parent)
        _write_private(path, token + "\n", mode=0o600)
        self.write_bundle()
        return PodCredentials(service_account=account, token_file=path)

    def forget(self, namespace: str, pod: str) -> None:
        """The pod is gone: revoke its token and remove its file."""
        self.tokens.revoke(namespace=namespace, pod=pod)
        shutil.rmtree(self.pod_dir(namespace, pod), ignore_errors=True)

    def sidecar_flags(self, credentials: PodCredentials) -> list[str]:
        flags = [
            "--mtls",
            self.mode,
            "--service-account",
            credentials.service_account,
            "--token-file",
            str(credentials.token_file),
            "--trust-bundle",
            str(self.bundle_path),
        ]
        if self.ca.trust_domain != "cluster.local":
            flags += ["--trust-domain", self.ca.trust_domain]
        return flags

    def close(self) -> None:
        """Every pod is gone: drop the per-pod folders (the CA and the bundle stay)."""
        shutil.rmtree(self.state_dir / PODS_DIR, ignore_errors=True)


__all__ = ["MTLS_MODES", "PodCredentials", "RuntimeTls", "RuntimeTlsError"]
