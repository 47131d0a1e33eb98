"""The CA's HTTP API, an aiohttp sub-application (mount it under the control plane's app).

::

    POST /v1/certificates     Authorization: Bearer <bootstrap or ServiceAccount token>
                              body: the PEM CSR (or JSON {"csr": "<PEM>"})
        200 {"identity", "certificate_chain", "trust_bundle", "expires_at"}
        400 {"error": "..."}  malformed CSR
        401 {"error": "..."}  no or bad credential
        403 {"error": "..."}  the CSR asks for an identity the credential does not prove
    GET  /v1/trust-bundle
        200 {"trust_domain", "trust_bundle"}

The credential is checked by the injected :class:`~smi.identity.authenticating.Authenticator`,
so the same app serves the local runtime (bootstrap tokens) and clusters (TokenReview).
With the local runtime's one-time bootstrap tokens, a renewal is proven instead by the
client's current certificate on the TLS connection (:func:`renewing_identity`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

from aiohttp import web

from smi.identity import x509s
from smi.identity.authenticating import Authenticator, WorkloadIdentity
from smi.identity.authority import CertificateAuthority
from smi.identity.errors import AuthenticationFailed, CAStoreError, CsrRejected
from smi.identity.serving import request_peer_certificate
from smi.proxyconfig.spiffe import InvalidSpiffeId, parse_spiffe_id

logger = logging.getLogger(__name__)

CA_KEY = web.AppKey("ca", CertificateAuthority)
AUTHENTICATOR_KEY = web.AppKey("authenticator", Authenticator)
MAX_BODY = 64 * 1024


def make_app(ca: CertificateAuthority, authenticator: Authenticator) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[CA_KEY] = ca
    app[AUTHENTICATOR_KEY] = authenticator
    app.router.add_post("/v1/certificates", _sign)
    app.router.add_get("/v1/trust-bundle", _trust_bundle)
    return app


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _refresh(ca: CertificateAuthority) -> None:
    try:
        ca.refresh()
    except CAStoreError as e:  # keep serving the last good material
        logger.error("The CA directory is inconsistent; still serving the loaded CA: %s", e)


def renewing_identity(request: web.Request, ca: CertificateAuthority, authenticator: Any) -> WorkloadIdentity | None:
    """A renewal proven by the client's current certificate, where the authenticator allows it.

    Only an authenticator with ``may_renew(namespace, service_account)`` (the local runtime's
    one-time bootstrap tokens) accepts renewals this way, and only while a pod of that
    ServiceAccount still runs.  The certificate must be unexpired *now* (a resumed TLS
    session would otherwise carry an expired one) and be of this CA's trust domain.
    """
    may_renew = getattr(authenticator, "may_renew", None)
    if may_renew is None:
        return None
    cert = request_peer_certificate(request)
    if cert is None or cert.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
        return None
    uri = next((u for u in x509s.uri_sans(cert) if u.startswith("spiffe://")), None)
    try:
        parsed = parse_spiffe_id(uri) if uri else None
    except InvalidSpiffeId:
        return None
    if parsed is None or parsed.trust_domain != ca.trust_domain:
        return None
    if not may_renew(parsed.namespace, parsed.service_account):
        return None
    return WorkloadIdentity(namespace=parsed.namespace, service_account=parsed.service_account)


async def _sign(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    authenticator = request.app[AUTHENTICATOR_KEY]
    identity = renewing_identity(request, ca, authenticator)
    if identity is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            ca.refused["unauthenticated"] += 1
            return _error(401, "missing credential: send 'Authorization: Bearer <token>'")
        try:
            identity = await authenticator.authenticate(token.strip())
        except AuthenticationFailed as e:
            ca.refused["unauthenticated"] += 1
            logger.warning("Refused a certificate request from %s: %s", request.remote, e)
            return _error(401, str(e))
    if request.content_type == "application/json":
        try:
            body = await request.json()
            csr = str(body["csr"]).encode()
        except (ValueError, KeyError, TypeError):
            ca.refused["bad_csr"] += 1
            return _error(400, 'a JSON body must be {"csr": "<PEM>"}')
    else:
        csr = await request.read()
    _refresh(ca)
    try:
        # Signing is CPU work (~1 ms); keep it off the event loop.
        issued = await asyncio.to_thread(ca.issue, csr, identity=identity)
    except CsrRejected as e:
        return _error(403 if e.forbidden else 400, e.reason)
    return web.json_response(issued.as_json())


async def _trust_bundle(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    _refresh(ca)
    return web.json_response({"trust_domain": ca.trust_domain, "trust_bundle": ca.trust_bundle_pem})
