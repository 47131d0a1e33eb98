"""The sidecar's workload identity at start: its first certificate, and what the pool checks.

With mTLS on (``ProxySettings.mtls`` ``strict`` or ``permissive``), before any listener
opens, ``certificate_manager`` makes the ``proxy.identity.CertificateManager`` that gets the
workload certificate from the CA (``ca_url``, proving who it is with the token in
``token_file``, re-read on every use as projected tokens rotate; trusting the CA through
``trust_bundle_pem``) and keeps renewing it; ``first_certificate`` waits for the first one
(at most ``certificate_timeout`` s) and gives the ``TlsContexts`` that follow renewals.
``ExpectedIdentities`` tells the upstream pool which identity the current config expects
at a peer sidecar.  A missing setting or a refusing CA is an ``IdentitySetupError``.

The certificate manager (and ``cryptography``) is imported only when mTLS is on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.holder import ConfigHolder
from proxy.settings import ProxySettings
from proxy.targets import PoolKey

if TYPE_CHECKING:
    from proxy.identity.manager import CertificateManager
    from proxy.identity.switching import TlsContexts

logger = logging.getLogger(__name__)


class IdentitySetupError(ValueError):
    """mTLS is on but the proxy cannot get a certificate (missing setting, CA refused)."""


def read_secret(path: Path | None) -> str:
    """The token in ``path`` (re-read on every use: projected tokens rotate); "" without one."""
    if path is None:
        return ""
    try:
        return path.read_text().strip()
    except OSError as e:
        logger.warning("cannot read the token file %s: %s", path, e)
        return ""


class ExpectedIdentities:
    """For the upstream pool: which identity the current config expects at (address, proxy port)."""

    def __init__(self, holder: ConfigHolder) -> None:
        self.holder = holder

    def __call__(self, key: PoolKey) -> str | None:
        runtime = self.holder.runtime
        return runtime.expected_identity(key) if runtime is not None else None


def certificate_manager(settings: ProxySettings, holder: ConfigHolder) -> CertificateManager:
    """The manager of the identity ``settings`` names (else the static config's node identity)."""
    from proxy.identity.manager import CertificateManager

    s = settings
    identity = s.identity or (holder.current.config.node.identity if holder.current else "")
    if not s.ca_url:
        raise IdentitySetupError("mTLS needs the CA's URL (--ca-url) or --mtls off")
    if not identity:
        raise IdentitySetupError("mTLS needs the workload identity (--service-account)")
    bundle = s.trust_bundle_pem or None
    token_file = s.token_file
    return CertificateManager(
        ca_url=s.ca_url, identity=identity, credential=lambda: read_secret(token_file),
        bootstrap_bundle_pem=bundle,
    )  # fmt: skip


async def first_certificate(manager: CertificateManager, *, give_up_after: float) -> TlsContexts:
    """Start ``manager`` and wait for its first certificate: TLS contexts that follow its renewals."""
    from proxy.identity.switching import TlsContexts

    try:
        material = await manager.start(give_up_after=give_up_after)
    except Exception as e:
        raise IdentitySetupError(f"no workload certificate for {manager.identity}: {e}") from e
    tls = TlsContexts(material)
    manager.subscribe(tls.update)
    logger.info("workload certificate for %s until %s", manager.identity, material.not_after)
    return tls


__all__ = ["ExpectedIdentities", "IdentitySetupError", "certificate_manager", "first_certificate", "read_secret"]
