"""The workload side of mesh identity: keys, certificates, and mTLS for the sidecar.

* ``keys``: the private key (made here, never sent) and the CSR;
* ``manager.CertificateManager``: gets and renews the certificate from the CA;
* ``contexts``: TLS 1.3 SSLContext factories, ``peer_identity``, ``verify_peer``;
* ``switching.TlsContexts``: the live contexts, updated on renewal without dropping connections;
* ``inbound``: accepting mTLS (strict) or also plain text (permissive) on the inbound port;
* ``outbound.connect_mesh``: mTLS to a peer sidecar, checking its identity.

Imports only ``smi.proxyconfig`` and third-party libraries, never the control plane.
"""

from proxy.identity.contexts import PeerIdentityRejected, client_context, peer_identity, server_context, verify_peer
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
