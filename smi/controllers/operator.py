"""The kopf operator wiring: settings, login, startup/cleanup, the handlers of every group.

``Controller`` owns a ``Feed`` into a ``Store`` that a ``Publisher`` (the config server)
reads; the composition root (``smi.cli.controller``) makes the ``Compiler`` and hands the
same one to the publisher and to the controller's status writer.  ``run()`` runs one kopf
operator and the status writer until the stop flag is set; it can be called again (a
restart) with the same store and publisher: on startup the publisher's gate is closed
(streams stay open with their last config) and the feed resyncs; when kopf's initial
listing of every watched kind has been fed, stale objects are dropped and the gate opens
again, so proxies only hear about real changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import kopf

import smi.policy.handlers
import traffic_access.handlers
import traffic_split.handlers
from smi.compile import Compiler
from smi.controllers.kinds import CORE, WATCHED_VERSIONS
from smi.controllers.kubeapi import KubeApi
from smi.controllers.statuses import StatusWriter
from smi.distribution import CoalescingSettings, Publisher
from smi.kubefeed.bridging import LoopBridge
from smi.kubefeed.feeding import Feed
from smi.kubefeed.registering import register_all
from smi.kubefeed.watched import Watched, watches
from smi.state import Store


class Registrar(Protocol):
    """A group's ``handlers.register``."""

    def __call__(
        self,
        registry: kopf.OperatorRegistry,
        *,
        feed: Feed,
        versions: Mapping[str, str],
        on_synced: Callable[[], None],
        bridge: LoopBridge,
    ) -> None: ...


# The kopf handlers of every group that watches kinds (traffic_metrics watches none).
HANDLERS: tuple[Registrar, ...] = (
    traffic_split.handlers.register,
    traffic_access.handlers.register,
    smi.policy.handlers.register,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide
    server: str | None = None  # an API server URL to use without credentials (tests, ``kubectl proxy``)
    status_coalescing: CoalescingSettings = field(default_factory=CoalescingSettings)
    status_retry: float = 5.0
    # The one version watched per SMI kind (the API server converts to it).  The default is
    # each CRD's storage version; change it only for a cluster whose CRDs serve different
    # versions.  See ``smi.controllers.kinds``.
    smi_versions: Mapping[str, str] = field(default_factory=lambda: WATCHED_VERSIONS)

    def smi_kinds(self, compiler: Compiler) -> tuple[Watched, ...]:
        """The watched resources of every group of ``compiler``, at the chosen versions."""
        return tuple(w for group in compiler.groups for w in watches(group.kinds, versions=self.smi_versions))


def _login(config: ControllerSettings, **kwargs: Any) -> kopf.ConnectionInfo | None:
    if config.server is not None:
        return kopf.ConnectionInfo(server=config.server, default_namespace="default")
    info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
    return info


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True  # no peering CRDs; one controller replica (leader election is a gap)
    settings.posting.level = logging.WARNING  # Kubernetes Events only for problems
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    return settings


class Controller:
    def __init__(
        self, *, store: Store, publisher: Publisher, compiler: Compiler, settings: ControllerSettings | None = None
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.compiler = compiler
        self.settings = settings or ControllerSettings()
        self.feed = Feed(store=store, kinds=CORE + self.settings.smi_kinds(compiler))
        self.connection: kopf.ConnectionInfo | None = None
        self._api: KubeApi | None = None
        self.synced = asyncio.Event()
        # Leader election (smi.cluster.leasing): every replica watches and serves configs,
        # only the leader writes statuses.  Call ``leadership_gained`` when it becomes leader.
        self.leading: Callable[[], bool] = lambda: True
        self._writer: StatusWriter | None = None

    def leadership_gained(self) -> None:
        """Write every status now (a follower wrote none): forget what was written and wake the writer."""
        if self._writer is not None:
            self._writer.forget()
            self._writer.coalescer.poke()

    def _api_if_leading(self) -> KubeApi | None:
        return self._api_now() if self.leading() else None

    def _api_now(self) -> KubeApi | None:
        if self._api is None and self.connection is not None:
            self._api = KubeApi(self.connection)
        return self._api

    def _begin_sync(self) -> None:
        self.synced.clear()
        self.publisher.hold()
        self.feed.begin_sync()

    def _on_synced(self) -> None:
        if self.synced.is_set():
            return
        self.synced.set()
        dropped = self.feed.end_sync()
        logger.info("Initial listing complete (%d stale object(s) dropped); publishing configs", dropped)
        self.publisher.mark_synced()

    def build_registry(self, bridge: LoopBridge) -> kopf.OperatorRegistry:
        registry = kopf.OperatorRegistry()
        config = self.settings

        @kopf.on.login(registry=registry)
        def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
            info = _login(config, **kwargs)
            self.connection = info
            return info

        @kopf.on.startup(registry=registry)
        def startup(**_: Any) -> None:
            bridge.call(self._begin_sync)

        feed, on_synced = self.feed, self._on_synced
        register_all(registry, feed=feed, kinds=CORE, on_synced=on_synced, bridge=bridge)
        for register in HANDLERS:
            register(registry, feed=feed, versions=config.smi_versions, on_synced=on_synced, bridge=bridge)
        return registry

    async def run(self, *, stop_flag: asyncio.Event, ready_flag: asyncio.Event | None = None) -> None:
        """Run the operator (and the status writer) until ``stop_flag`` is set."""
        writer = StatusWriter(
            store=self.store,
            feed=self.feed,
            publisher=self.publisher,
            api=self._api_if_leading,
            compiler=self.compiler,
            coalescing=self.settings.status_coalescing,
            retry=self.settings.status_retry,
        )
        self._writer = writer
        writer_task = asyncio.create_task(writer.run(), name="status writer")
        registry = self.build_registry(LoopBridge(asyncio.get_running_loop()))
        thread_stop = threading.Event()
        thread_ready = threading.Event()

        def operate() -> None:
            asyncio.run(
                kopf.operator(
                    registry=registry,
                    settings=kopf_settings(),
                    clusterwide=not self.settings.namespaces,
                    namespaces=list(self.settings.namespaces),
                    stop_flag=thread_stop,
                    ready_flag=thread_ready,
                    standalone=True,
                )
            )

        operator = asyncio.create_task(asyncio.to_thread(operate), name="kopf operator thread")
        stopping = asyncio.create_task(stop_flag.wait())
        try:
            if ready_flag is not None:
                await asyncio.to_thread(thread_ready.wait)
                ready_flag.set()
            await asyncio.wait({operator, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            thread_stop.set()
            stopping.cancel()
            await asyncio.shield(operator)
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer_task
            if self._api is not None:
                await self._api.close()
                self._api = None
