"""Wires one sidecar together: listeners, admin server, config source; and runs it until a signal.

``Proxy`` is used both by ``smi proxy`` (through ``run``) and in-process by the tests.
Addresses may use port 0; the bound addresses are in ``Proxy.addresses`` after ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from proxy.admin import build_admin_app
from proxy.configstream import ConfigStreamClient
from proxy.holder import ConfigHolder
from proxy.inbound import InboundAcceptor
from proxy.metrics import Metrics, MetricsCollector
from proxy.outbound import forward_factory, outbound_factory
from proxy.upstream import UpstreamPool
from smi.proxyconfig import ProxyConfig, decode

logger = logging.getLogger(__name__)

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Forward:
    """``--forward LISTEN_ADDR:PORT=SERVICE.NAMESPACE:PORT``."""

    listen: Address
    namespace: str
    service: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxySettings:
    namespace: str = ""
    pod: str = ""
    control_plane: str | None = None
    config_file: Path | None = None
    outbound: Address | None = ("127.0.0.1", 15001)
    inbound: Address | None = ("0.0.0.0", 15003)
    admin: Address | None = ("127.0.0.1", 15000)
    bind_address: str = ""
    forwards: tuple[Forward, ...] = ()
    inbound_connect_timeout: float = 1.0
    inbound_request_timeout: float = 60.0
    backoff_initial: float = 0.1
    backoff_max: float = 5.0


class ConfigFileError(ValueError):
    pass


def load_config_file(path: Path) -> tuple[ProxyConfig, int]:
    """A static config: a ProxyConfig JSON object, or a stream message ``{"type": "config", ...}``."""
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("type") == "config":
            return decode(ProxyConfig, data["config"]), int(data.get("version", 0))
        return decode(ProxyConfig, data), 0
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigFileError(f"{path}: not a usable ProxyConfig: {e}") from e


@dataclass
class Proxy:
    settings: ProxySettings
    metrics: Metrics = field(default_factory=Metrics)
    addresses: dict[str, Address] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.holder = ConfigHolder(self.metrics)
        self.pool = UpstreamPool()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MetricsCollector(self.metrics))
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.stream: ConfigStreamClient | None = None

    async def _listen(self, name: str, factory: Callable[[], asyncio.BaseProtocol], address: Address) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, address[0], address[1], reuse_address=True, backlog=1024)
        self._servers.append(server)
        sockname = server.sockets[0].getsockname()
        self.addresses[name] = (sockname[0], sockname[1])

    async def start(self) -> None:
        s = self.settings
        if s.config_file is not None:
            config, version = load_config_file(s.config_file)
            self.holder.swap(config, version=version)
        if s.outbound is not None:
            factory = outbound_factory(
                holder=self.holder, metrics=self.metrics, pool=self.pool, bind_address=s.bind_address
            )
            await self._listen("outbound", factory, s.outbound)
        if s.inbound is not None:

            def inbound() -> InboundAcceptor:
                return InboundAcceptor(
                    holder=self.holder,
                    metrics=self.metrics,
                    pool=self.pool,
                    connect_timeout=s.inbound_connect_timeout,
                    request_timeout=s.inbound_request_timeout,
                )

            await self._listen("inbound", inbound, s.inbound)
        for fw in s.forwards:
            factory = forward_factory(
                holder=self.holder,
                metrics=self.metrics,
                pool=self.pool,
                service=(fw.namespace, fw.service, fw.port),
                bind_address=s.bind_address,
            )
            await self._listen(f"forward:{fw.service}.{fw.namespace}:{fw.port}", factory, fw.listen)
        if s.admin is not None:
            self._runner = web.AppRunner(build_admin_app(holder=self.holder, registry=self.registry), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, s.admin[0], s.admin[1], reuse_address=True)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                name = sockets[0].getsockname()
                self.addresses["admin"] = (name[0], name[1])
        if s.control_plane:
            self.stream = ConfigStreamClient(
                url=s.control_plane,
                namespace=s.namespace,
                pod=s.pod,
                holder=self.holder,
                backoff_initial=s.backoff_initial,
                backoff_max=s.backoff_max,
            )
            self._tasks.append(asyncio.get_running_loop().create_task(self.stream.run(), name="config-stream"))
        logger.info("proxy listening: %s", ", ".join(f"{k}={a[0]}:{a[1]}" for k, a in self.addresses.items()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self._servers:
            server.close()
        self.pool.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


async def serve(settings: ProxySettings) -> None:
    """Run until SIGTERM or SIGINT."""
    proxy = Proxy(settings)
    await proxy.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await proxy.stop()


def run(settings: ProxySettings) -> None:
    """The process entry point: uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(settings))
        return
    uvloop.run(serve(settings))
