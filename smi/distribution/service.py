"""The config service: store listener, coalescer, compile loop and HTTP server, started as one unit.

``ConfigService`` is what ``smi controller`` (and the local runtime) run: it subscribes
a ``Coalescer`` to the ``Store``, runs the ``Publisher``'s compile loop in a task and
serves ``make_app``'s routes on a real socket.  It is an async context manager.
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
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.coalescer = Coalescer(coalescing)
        self.publisher = Publisher(store=store, compiler=compiler, queue_size=queue_size, synced=synced)
        self.app = make_app(self.publisher, identity=identity, settings=server)
        self._runner: web.AppRunner | None = None
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self.publisher.run(self.coalescer), name="config compile loop")
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            server = site._server
            assert isinstance(server, asyncio.base_events.Server)
            self.port = server.sockets[0].getsockname()[1]
        logger.info("Config server listening on %s", self.url)

    async def stop(self) -> None:
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
