"""The config server (aiohttp): one long-lived ndjson stream per proxy, plus health and metrics.

Routes (the stream protocol is specified in ``smi.proxyconfig``'s docstring)::

    GET /v1/config/stream?namespace=<ns>&pod=<pod>   the proxy's config stream
    GET /v1/config/versions?namespace=<ns>           the config version streaming to each proxy of <ns> now
    GET /healthz                                     200 while the server runs
    GET /readyz                                      200 once the first full sync is published, else 503
    GET /metrics                                     Prometheus text format

The handler only moves bytes: it waits on its subscription's queue (with a heartbeat
timeout) and writes what comes out.  Everything that decides *what* a proxy gets lives
in ``publishing``.  A stream whose queue overflows is closed; when its handler is stuck
writing to a proxy that does not read, the transport is aborted so the handler ends.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smi.distribution.identity import IdentityRefused, PeerIdentity, QueryIdentity
from smi.distribution.publishing import HEARTBEAT, Publisher

logger = logging.getLogger(__name__)

STREAM_PATH = "/v1/config/stream"
VERSIONS_PATH = "/v1/config/versions"
DEFAULT_HEARTBEAT = 5.0

PUBLISHER_KEY = web.AppKey("publisher", Publisher)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    heartbeat: float = DEFAULT_HEARTBEAT  # seconds of silence before a heartbeat line


class _StreamHandler:
    def __init__(self, *, publisher: Publisher, identity: PeerIdentity, settings: ServerSettings) -> None:
        self.publisher = publisher
        self.identity = identity
        self.settings = settings

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        who = self.identity.identify(request)
        if isinstance(who, IdentityRefused):
            raise web.HTTPBadRequest(text=who.reason) if who.status == 400 else web.HTTPForbidden(text=who.reason)
        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"},
        )
        await response.prepare(request)
        writing = False

        def abort_if_stuck() -> None:
            if writing and request.transport is not None:
                request.transport.abort()

        sub = self.publisher.subscribe(who, on_overflow=abort_if_stuck)
        logger.info("Proxy %s connected", who)
        try:
            while True:
                try:
                    message = await asyncio.wait_for(sub.queue.get(), timeout=self.settings.heartbeat)
                except TimeoutError:
                    message = HEARTBEAT
                if message is None:
                    break
                writing = True
                await response.write(message)
                writing = False
        except (ConnectionError, RuntimeError):  # peer gone; aiohttp raises ClientConnectionResetError/RuntimeError
            pass
        finally:
            self.publisher.unsubscribe(sub)
            logger.info("Proxy %s disconnected%s", who, " (queue overflow)" if sub.overflowed else "")
        return response


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    if request.app[PUBLISHER_KEY].synced:
        return web.Response(text="ready\n")
    return web.Response(status=503, text="not synced yet\n")


async def _versions(request: web.Request) -> web.Response:
    """For ``smi check --proxy``: what this replica last sent to each connected proxy of one namespace.

    Versions count per replica (``publishing``): compare a sidecar with the replica it streams from.
    """
    namespace = request.query.get("namespace", "")
    if not namespace:
        raise web.HTTPBadRequest(text="namespace: required\n")
    proxies = [{"namespace": p.namespace, "pod": p.pod, "version": v}
               for p, v in request.app[PUBLISHER_KEY].connected_versions() if p.namespace == namespace]  # fmt: skip
    return web.json_response({"proxies": proxies})


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[PUBLISHER_KEY].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(
    publisher: Publisher,
    *,
    identity: PeerIdentity | None = None,
    settings: ServerSettings | None = None,
) -> web.Application:
    """The config server app; other routes (e.g. the conversion webhook) can be added to it."""
    app = web.Application()
    app[PUBLISHER_KEY] = publisher
    handler = _StreamHandler(
        publisher=publisher, identity=identity or QueryIdentity(), settings=settings or ServerSettings()
    )

    async def stream(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    app.router.add_get(STREAM_PATH, stream)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get(VERSIONS_PATH, _versions)
    app.router.add_get("/metrics", _metrics)

    async def close_streams(app: web.Application) -> None:
        publisher.close_all()

    app.on_shutdown.append(close_streams)
    return app
