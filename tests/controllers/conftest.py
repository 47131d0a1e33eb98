"""A real kopf operator against kmock's KubernetesEmulator, feeding a real config server.

``cluster``: the emulator with every resource the operator watches registered (plus
CRDs, namespaces and events, without which kopf never starts its watches).
``mesh``: store + config server + controller running against it; ``mesh.restart()``
stops the operator and starts a new one over the same emulator state.

Two kmock 0.8 bugs are worked around here through kmock's private parts (its path parser
and its request handler), because its public API offers no hook for either: it reads
``/api/v1/namespaces`` (kopf's cluster-wide Namespace watch) as a namespace prefix, and
it ignores ``metadata.generateName`` (kopf's Events use it).  kmock is therefore pinned
to exactly 0.8 in pyproject.toml; drop both workarounds when a kmock release fixes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest
from kmock._internal import parsing as kmock_parsing

from smi.compile import Compiler, MeshSettings
from smi.controllers import Controller, ControllerSettings
from smi.controllers.kinds import ALL
from smi.distribution import CoalescingSettings, ConfigService
from smi.groups import MESH_GROUPS
from smi.state import Store
from tests.waiting import wait_until

FAST = CoalescingSettings(window=0.01, max_wait=0.1)


def _parse_path_with_namespaces(original: Any) -> Any:
    """kmock 0.8 reads ``/api/v1/namespaces[/name]`` as a namespace prefix and fails; fix just that."""

    def parse_path(path: str) -> Any:
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) in (3, 4):
            name = parts[3] if len(parts) == 4 else None
            return kmock_parsing.ParsedPath(group="", version="v1", plural="namespaces", name=name)
        return original(path)

    return parse_path


class Emulator(kmock.KubernetesEmulator):
    """kmock 0.8 ignores ``metadata.generateName`` (kopf's Events use it); name such objects here."""

    async def _handle(self, request: Any) -> Any:
        data = request.data if request.action == kmock.action.CREATE else None
        meta = data.get("metadata") if isinstance(data, dict) else None
        if isinstance(meta, dict) and meta.get("generateName") and not meta.get("name"):
            meta["name"] = f"{meta['generateName']}{next(_names)}"
        return await super()._handle(request)


_names = itertools.count(1)


@pytest.fixture
async def cluster(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[kmock.KubernetesEmulator]:
    monkeypatch.setattr(kmock_parsing, "parse_path", _parse_path_with_namespaces(kmock_parsing.parse_path))
    async with Emulator() as emulator, kmock.Server(emulator):
        _register(emulator)
        yield emulator


def _register(kmock: kmock.KubernetesEmulator) -> None:
    verbs = {"list", "watch", "get", "create", "patch", "update", "delete"}
    for w in ALL:
        key = f"{w.group}/{w.version}/{w.plural}" if w.group else f"{w.version}/{w.plural}"
        kmock.resources[key] = kmock.ResourceInfo(
            kind=w.kind,
            namespaced=w.namespaced,
            verbs=verbs,
            subresources={"status"} if w.group.endswith("smi-spec.io") else set(),
        )
    kmock.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs=verbs
    )
    kmock.resources["v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True, verbs=verbs)


class Mesh:
    def __init__(self, cluster: kmock.KubernetesEmulator, service: ConfigService, compiler: Compiler) -> None:
        self.cluster = cluster
        self.service = service
        self.compiler = compiler
        self.store = service.store
        self.controller: Controller | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start_operator(self) -> None:
        settings = ControllerSettings(server=str(self.cluster.url).rstrip("/"), status_coalescing=FAST)
        self.controller = Controller(
            store=self.store, publisher=self.service.publisher, compiler=self.compiler, settings=settings
        )
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.controller.run(stop_flag=self._stop))
        controller = self.controller
        await wait_until(controller.synced.is_set, within=20, what="the operator's initial listing")

    async def stop_operator(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=20)
        self._task = None

    async def restart(self) -> None:
        await self.stop_operator()
        await self.start_operator()

    # -- talking to the emulated API server ---------------------------------------------

    async def create(self, path: str, body: dict[str, Any]) -> None:
        async with self.cluster.post(path, json=body) as resp:
            assert resp.status < 300, await resp.text()

    async def patch(self, path: str, body: dict[str, Any]) -> None:
        async with self.cluster.patch(
            path, json=body, headers={"Content-Type": "application/merge-patch+json"}
        ) as resp:
            assert resp.status < 300, await resp.text()

    async def delete(self, path: str) -> None:
        async with self.cluster.delete(path) as resp:
            assert resp.status < 300, await resp.text()

    async def get(self, path: str) -> dict[str, Any]:
        async with self.cluster.get(path) as resp:
            assert resp.status == 200, await resp.text()
            data: dict[str, Any] = await resp.json()
            return data


@pytest.fixture
async def mesh(cluster: kmock.KubernetesEmulator) -> AsyncIterator[Mesh]:
    compiler = Compiler(MeshSettings(), MESH_GROUPS)  # as the composition root makes it
    service = ConfigService(store=Store(), compiler=compiler.compile_proxy, coalescing=FAST)
    async with service:
        m = Mesh(cluster, service, compiler)
        try:
            yield m
        finally:
            await m.stop_operator()
