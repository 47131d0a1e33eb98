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
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from smi.identity.authenticating import Authenticator
from smi.identity.authority import CertificateAuthority
from smi.identity.errors import AuthenticationFailed, CAStoreError, CsrRejected

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


async def _sign(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        ca.refused["unauthenticated"] += 1
        return _error(401, "missing credential: send 'Authorization: Bearer <token>'")
    try:
        identity = await request.app[AUTHENTICATOR_KEY].authenticate(token.strip())
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
