"""The config service: store listener, coalescer, compile loop and HTTP server, started as one unit.

``ConfigService`` is what ``smi controller`` (and the local runtime) run: it subscribes
a ``Coalescer`` to the ``Store``, runs the ``Publisher``'s compile loop in a task and
serves ``make_app``'s routes on a real socket.  It is an async context manager.

Over TLS (``tls=ControlPlaneTls(...)``) the site listens with the control plane's own
certificate (re-issued by ``refresh()`` every ``tls_refresh`` seconds, new handshakes pick
it up), the URL is ``https://`` and proxies are identified by their client certificate
(``identity``, normally ``CertificateIdentity``).  ``ca_app`` (``smi.identity.server.make_app``)
is mounted under ``/ca``, so proxies get their certificates from the same address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

from aiohttp import web

from smi.distribution.coalescing import Coalescer, CoalescingSettings
from smi.distribution.identity import PeerIdentity
from smi.distribution.publishing import DEFAULT_QUEUE_SIZE, ProxyCompiler, Publisher
from smi.distribution.server import ServerSettings, make_app
from smi.identity.serving import ControlPlaneTls
from smi.state import Store

logger = logging.getLogger(__name__)


class ConfigService:
    def __init__(
        self,
        *,
        store: Store,
        compiler: ProxyCompiler,
        host: str = "127.0.0.1",
        port: int = 0,
        coalescing: CoalescingSettings | None = None,
        server: ServerSettings | None = None,
        identity: PeerIdentity | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        synced: bool = False,
        tls: ControlPlaneTls | None = None,
        ca_app: web.Application | None = None,
        tls_refresh: float = 60.0,
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.coalescer = Coalescer(coalescing)
        self.publisher = Publisher(store=store, compiler=compiler, queue_size=queue_size, synced=synced)
        self.app = make_app(self.publisher, identity=identity, settings=server)
        if ca_app is not None:
            self.app.add_subapp("/ca", ca_app)
        self.tls = tls
        self.tls_refresh = tls_refresh
        self._runner: web.AppRunner | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def _refresh_forever(self) -> None:
        assert self.tls is not None
        while True:
            await asyncio.sleep(self.tls_refresh)
            try:
                if self.tls.refresh():
                    logger.info("Re-issued the control plane's certificate (until %s)", self.tls.not_after)
            except Exception:  # keep serving with the current certificate
                logger.exception("Cannot re-issue the control plane's certificate")

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self.publisher.run(self.coalescer), name="config compile loop")
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        ssl_context = self.tls.listening if self.tls is not None else None
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        if self.tls is not None:
            self._refresh_task = asyncio.create_task(self._refresh_forever(), name="control plane certificate")
        if self.port == 0:
            sockets = getattr(site._server, "sockets", None)  # asyncio's or uvloop's Server
            assert sockets, "the config server has no listening socket"
            self.port = sockets[0].getsockname()[1]
        logger.info("Config server listening on %s", self.url)

    async def stop(self) -> None:
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
            self._refresh_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def __aenter__(self) -> ConfigService:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
