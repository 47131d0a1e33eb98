"""The kopf operator wiring: settings, login, startup/cleanup, the handlers of every group.

``Controller`` owns a ``Feed`` into a ``Store`` that a ``Publisher`` (the config server)
reads.  ``run()`` runs one kopf operator and the status writer until the stop flag is set;
it can be called again (a restart) with the same store and publisher: on startup the
publisher's gate is closed (streams stay open with their last config) and the feed
resyncs; when kopf's initial listing of every watched kind has been fed, stale objects
are dropped and the gate opens again, so proxies only hear about real changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

import traffic_access.handlers
import traffic_split.handlers
from smi.compile import MeshSettings
from smi.controllers.bridging import LoopBridge
from smi.controllers.feeding import Feed
from smi.controllers.kinds import ACCESS_RESOURCES, CORE, SPLIT_RESOURCES, WATCHED_VERSIONS, Watched, smi_watches
from smi.controllers.kubeapi import KubeApi
from smi.controllers.registering import register_all
from smi.controllers.statuses import StatusWriter
from smi.distribution import CoalescingSettings, Publisher
from smi.state import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide
    server: str | None = None  # an API server URL to use without credentials (tests, ``kubectl proxy``)
    mesh: MeshSettings = field(default_factory=MeshSettings)
    status_coalescing: CoalescingSettings = field(default_factory=CoalescingSettings)
    status_retry: float = 5.0
    # The one version watched per SMI kind (the API server converts to it).  The default is
    # each CRD's storage version; change it only for a cluster whose CRDs serve different
    # versions.  See ``smi.controllers.kinds``.
    smi_versions: Mapping[str, str] = field(default_factory=lambda: WATCHED_VERSIONS)

    def smi_kinds(self) -> tuple[tuple[Watched, ...], tuple[Watched, ...]]:
        """The watched (split, access) resources."""
        return (
            smi_watches(SPLIT_RESOURCES, versions=self.smi_versions),
            smi_watches(ACCESS_RESOURCES, versions=self.smi_versions),
        )


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
    def __init__(self, *, store: Store, publisher: Publisher, settings: ControllerSettings | None = None) -> None:
        self.store = store
        self.publisher = publisher
        self.settings = settings or ControllerSettings()
        split_kinds, access_kinds = self.settings.smi_kinds()
        self.feed = Feed(store=store, kinds=CORE + split_kinds + access_kinds)
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
        split_kinds, access_kinds = config.smi_kinds()
        if split_kinds == traffic_split.handlers.KINDS and access_kinds == traffic_access.handlers.KINDS:
            traffic_split.handlers.register(registry, feed=feed, on_synced=on_synced, bridge=bridge)
            traffic_access.handlers.register(registry, feed=feed, on_synced=on_synced, bridge=bridge)
        else:  # versions other than the default: the same thin handlers, at those versions
            register_all(registry, feed=feed, kinds=split_kinds + access_kinds, on_synced=on_synced, bridge=bridge)
        return registry

    async def run(self, *, stop_flag: asyncio.Event, ready_flag: asyncio.Event | None = None) -> None:
        """Run the operator (and the status writer) until ``stop_flag`` is set."""
        writer = StatusWriter(
            store=self.store,
            feed=self.feed,
            publisher=self.publisher,
            api=self._api_if_leading,
            mesh=self.settings.mesh,
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


def compiler_for(mesh: MeshSettings) -> Callable[..., Any]:
    """The publisher's compiler: ``smi.compile.compile_proxy`` with the mesh settings bound."""
    from smi.compile import compile_proxy

    def compile_with_settings(snapshot: Any, *, namespace: str, pod: str) -> Any:
        return compile_proxy(snapshot, namespace=namespace, pod=pod, settings=mesh)

    return compile_with_settings
