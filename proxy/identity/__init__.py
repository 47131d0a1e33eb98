"""The workload side of mesh identity: keys, certificates, and mTLS for the sidecar.

* ``keys``: the private key (made here, never sent) and the CSR;
* ``der``: the CSR's DER and reading certificates (no ``cryptography.x509`` in the sidecar);
* ``manager.CertificateManager``: gets and renews the certificate from the CA;
* ``contexts``: TLS 1.3 SSLContext factories, ``peer_identity``, ``verify_peer``;
* ``switching.TlsContexts``: the live contexts, updated on renewal without dropping connections;
* ``inbound``: accepting mTLS (strict) or also plain text (permissive) on the inbound port;
* ``outbound.connect_mesh``: mTLS to a peer sidecar, checking its identity.

Imports only ``smi.proxyconfig``, the proxy's leaf helpers (``proxy.exposition``,
``proxy.httpclient``) and third-party libraries, never the control plane.

The names below are loaded on first use (PEP 562 ``__getattr__``), so importing one
submodule (``proxy.identity.contexts``, as the proxy's upstream pool does) loads neither
the CA client nor ``cryptography``: with mTLS off the sidecar never imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxy.identity.contexts import (
        PeerIdentityRejected,
        client_context,
        peer_identity,
        server_context,
        verify_peer,
    )
    from proxy.identity.inbound import (
        InboundConnection,
        InboundListener,
        InboundStats,
        Mode,
        accept_inbound,
        upgrade_accepted,
    )
    from proxy.identity.manager import CertificateManager, CertificateRequestFailed
    from proxy.identity.material import WorkloadMaterial
    from proxy.identity.outbound import MeshStream, connect_mesh
    from proxy.identity.switching import TlsContexts

_HOMES = {
    "CertificateManager": "manager",
    "CertificateRequestFailed": "manager",
    "InboundConnection": "inbound",
    "InboundListener": "inbound",
    "InboundStats": "inbound",
    "MeshStream": "outbound",
    "Mode": "inbound",
    "PeerIdentityRejected": "contexts",
    "TlsContexts": "switching",
    "WorkloadMaterial": "material",
    "accept_inbound": "inbound",
    "client_context": "contexts",
    "connect_mesh": "outbound",
    "peer_identity": "contexts",
    "server_context": "contexts",
    "upgrade_accepted": "inbound",
    "verify_peer": "contexts",
}

__all__ = [
    "CertificateManager",
    "CertificateRequestFailed",
    "InboundConnection",
    "InboundListener",
    "InboundStats",
    "MeshStream",
    "Mode",
    "PeerIdentityRejected",
    "TlsContexts",
    "WorkloadMaterial",
    "accept_inbound",
    "client_context",
    "connect_mesh",
    "peer_identity",
    "server_context",
    "upgrade_accepted",
    "verify_peer",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
