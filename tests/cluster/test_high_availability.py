"""Two controller replicas: a leader killed under load, and webhook certificates rotating under pod creation."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.cluster.conftest import StandIn
from tests.cluster.meshclient import TlsConfigStream, workload_tls
from tests.cluster.test_install_lifecycle import app_pod, healthy_install, wait_async
from tests.controllers.objects import ROUTES, SPLITS, TARGETS, install_app, routes, split, target
from tests.controllers.test_controller import split_weights
from tests.distribution.helpers import wait_until

MAX_PODS = 300  # every load loop is bounded in count ...
LOAD_SECONDS = 90.0  # ... and in time


class Emulated:
    """``install_app`` writes straight to the emulator (pods already meshed, with status, as a kubelet would)."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin

    async def create(self, path: str, body: dict[str, Any]) -> None:
        status, answer = await self.standin.front.emulator("POST", path, body)
        assert status < 300, answer


class PodLoad:
    """Creates pods through the front one after another until stopped; records every outcome."""

    def __init__(self, standin: StandIn, namespace: str) -> None:
        self.standin, self.namespace = standin, namespace
        self.created: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOAD_SECONDS
        for i in range(MAX_PODS):
            if self._stop.is_set() or loop.time() > deadline:
                return
            status, pod = await self.standin.create(f"/api/v1/namespaces/{self.namespace}/pods",
                                                    app_pod(f"load-{i}", self.namespace))  # fmt: skip
            if status >= 300:
                self.failures.append(f"pod load-{i}: HTTP {status}: {pod}")
            else:
                self.created.append(pod)
            await asyncio.sleep(0.02)  # pacing of a bounded load loop, not a synchronisation

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def meshed_namespace(standin: StandIn, name: str) -> None:
    status, body = await standin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                               "metadata": {"name": name}})  # fmt: skip
    assert status < 300, body
    added = await standin.run_smi("namespace", "add", name)
    assert added.code == 0, added


async def split_status(standin: StandIn) -> dict[str, Any]:
    found = await standin.get(f"{SPLITS}/api-split")
    return (found or {}).get("status") or {}


async def test_killing_the_leader_under_load_fails_no_request_and_the_new_leader_carries_on(standin: StandIn) -> None:
    await healthy_install(standin)
    plane = standin.control_plane
    assert plane is not None
    emulated = Emulated(standin)
    await install_app(emulated)
    for path, body in ((ROUTES, routes()), (TARGETS, target()),
                       (SPLITS, split("api-split", weights={"api-v1": 3, "api-v2": 1}))):  # fmt: skip
        await emulated.create(path, body)

    holder = await standin.lease_holder()
    leader = next(r for r in plane.replicas if r.name == holder)
    follower = next(r for r in plane.replicas if r is not leader)

    async def accepted() -> bool:
        conditions = {c["type"]: c for c in (await split_status(standin)).get("conditions", [])}
        return conditions.get("Accepted", {}).get("status") == "True"

    await wait_async(accepted, within=60, what="the leader to write the split's status")

    ca_dir = plane.work / f"replica-{follower.index}" / "ca"
    tls = await asyncio.to_thread(workload_tls, ca_dir, namespace="default", service_account="web", pod="web-1")
    await meshed_namespace(standin, "shop")
    load = PodLoad(standin, "shop")
    async with TlsConfigStream(follower.ip, 15010, context=tls, namespace="default", pod="web-1") as stream:
        await wait_until(lambda: any(split_weights(m) == {"api-v1": 3, "api-v2": 1} for m in stream.configs),
                         within=60, what=f"the follower's config stream ({stream.error!r})")  # fmt: skip
        load.start()
        try:
            await wait_until(lambda: len(load.created) >= 5, within=60, what="pods created before the kill")
            await plane.kill(leader)
            before_kill = len(load.created)

            async def follower_leads() -> bool:
                return await standin.lease_holder() == follower.name

            await wait_async(follower_leads, within=60, what="the follower to take the Lease over")
            await standin.front.emulator("PATCH", f"{SPLITS}/api-split", {
                "metadata": {"generation": 2}, "spec": {"backends": [{"service": "api-v1", "weight": 1},
                                                                     {"service": "api-v2", "weight": 1}]}})  # fmt: skip
            await wait_until(lambda: any(split_weights(m) == {"api-v1": 1, "api-v2": 1} for m in stream.configs),
                             within=60, what="the new weights on the stream")  # fmt: skip

            async def new_status() -> bool:
                return (await split_status(standin)).get("observedGeneration") == 2

            await wait_async(new_status, within=60, what="the new leader to write the status of generation 2")
            await wait_until(lambda: len(load.created) >= before_kill + 5, within=60, what="pods after the kill")
            assert not stream.ended.is_set(), stream.error  # the stream to the surviving replica never broke
        finally:
            await load.stop()
    assert load.failures == []
    assert all("smi-proxy" in [c["name"] for c in p["spec"]["containers"]] for p in load.created)


async def test_webhook_certificates_rotate_under_pod_creation_without_a_failed_admission(standin: StandIn) -> None:
    await healthy_install(standin, "--webhook-cert-lifetime", "4s")  # re-issued every ~2 s by each replica
    await meshed_namespace(standin, "shop")
    load = PodLoad(standin, "shop")
    load.start()
    try:
        # two replicas start with two certificates; more serials seen means re-issued ones were served
        await wait_until(lambda: len(set(standin.front.calls.serials)) >= 6 or bool(load.failures), within=60,
                         what="three serving certificates per replica")  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            await load.stop()
    assert load.failures == []
    assert len(load.created) >= 6
    assert all("smi-proxy" in [c["name"] for c in p["spec"]["containers"]] for p in load.created)
