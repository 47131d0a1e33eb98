"""The control plane's side of mesh identity: the certificate authority.

Workload identity is the ServiceAccount, as a SPIFFE id in the URI SAN
(``spiffe://<trust-domain>/ns/<ns>/sa/<sa>``).  The CA (``authority``) keeps its root
(optionally an intermediate) in a directory or a Secret (``storage``), signs short-lived
leaves for CSRs (``issuing``) once an authenticator (``authenticating``, ``tokenreview``)
has proven who asks, serves that over HTTP (``server.make_app``), and rotates roots
(``material``).  See docs/identity.md.
"""

from smi.identity.authenticating import Authenticator, BootstrapTokenAuthenticator, WorkloadIdentity
from smi.identity.authority import CAStatus, CertificateAuthority, IssuedCertificate
from smi.identity.errors import AuthenticationFailed, CAStoreError, CsrRejected, IdentityError, RotationError
from smi.identity.tokenreview import TokenReviewAuthenticator
from smi.proxyconfig.spiffe import InvalidSpiffeId, SpiffeId, parse_spiffe_id, spiffe_id

__all__ = [
    "AuthenticationFailed",
    "Authenticator",
    "BootstrapTokenAuthenticator",
    "CAStatus",
    "CAStoreError",
    "CertificateAuthority",
    "CsrRejected",
    "IdentityError",
    "InvalidSpiffeId",
    "IssuedCertificate",
    "RotationError",
    "SpiffeId",
    "TokenReviewAuthenticator",
    "WorkloadIdentity",
    "parse_spiffe_id",
    "spiffe_id",
]
