"""The errors of the certificate authority, as one small tree::

    IdentityError
    ├── CAStoreError          the CA's files / Secret are missing parts, unreadable or inconsistent
    ├── RotationError         a root rotation step that cannot be done now (and why)
    ├── AuthenticationFailed  the caller's credential proves no identity        (HTTP 401)
    └── CsrRejected           the CSR is malformed or asks for another identity  (HTTP 400 / 403)

Every message names what was wrong and why; the signing API returns it to the caller.
"""

from __future__ import annotations


class IdentityError(Exception):
    """Base of all identity errors."""


class CAStoreError(IdentityError):
    """The CA material cannot be loaded as it is; it is never regenerated silently."""


class RotationError(IdentityError):
    """A rotation step is not possible in the CA's current state."""


class AuthenticationFailed(IdentityError):
    """The bearer credential was missing, unknown, expired or not a workload's."""


class CsrRejected(IdentityError):
    """The certificate signing request is refused; ``forbidden`` marks a request for another identity."""

    def __init__(self, reason: str, *, forbidden: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.forbidden = forbidden
