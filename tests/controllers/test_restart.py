"""Controller restarts: the same configs are rebuilt and connected proxies see no gap."""

from __future__ import annotations

import kmock

from smi.compile import Compiler, MeshSettings
from smi.distribution import ConfigService
from smi.groups import MESH_GROUPS
from smi.state import Store
from tests.controllers.conftest import FAST, Mesh
from tests.controllers.objects import ROUTES, SPLITS, TARGETS, install_app, routes, split, target
from tests.controllers.test_controller import split_weights
from tests.distribution.helpers import StreamClient
from tests.waiting import wait_until


async def install_all(mesh: Mesh) -> None:
    await install_app(mesh)
    await mesh.create(ROUTES, routes())
    await mesh.create(TARGETS, target())
    await mesh.create(SPLITS, split("api-split", weights={"api-v1": 3, "api-v2": 1}))


async def test_an_operator_restart_keeps_streams_and_sends_nothing_that_did_not_change(mesh: Mesh) -> None:
    await install_all(mesh)
    await mesh.start_operator()
    async with StreamClient(mesh.service.url, namespace="default", pod="web-1") as web:
        before = await web.wait_config(lambda m: split_weights(m) is not None, what="the split")
        assert len(web.configs) == 1  # the gate held everything until the listing was complete

        await mesh.restart()
        assert not web.ended.is_set(), repr(web.error)
        # Nothing changed, so nothing may be sent.  "Nothing arrived" means something only
        # once the stream is shown to be live: the next change after the restart is the
        # next message, so no empty, partial or repeated config came in between.
        backends = [{"service": "api-v1", "weight": 1}, {"service": "api-v2", "weight": 3}]
        await mesh.patch(f"{SPLITS}/api-split", {"spec": {"backends": backends}})
        changed = await web.wait_config(lambda m: m["version"] > before["version"], what="the first change after it")
        assert split_weights(changed) == {"api-v1": 1, "api-v2": 3}
        assert [m["version"] for m in web.configs] == [1, 2]

        # deleted while no operator watched: the resync drops it, the proxy gets exactly that
        await mesh.stop_operator()
        await mesh.delete(f"{SPLITS}/api-split")
        await mesh.start_operator()
        after = await web.wait_config(lambda m: m["version"] > changed["version"], what="the post-restart config")
        assert split_weights(after) is None
        assert after["version"] == changed["version"] + 1
        assert after["config"]["outbound"]["services"] != []  # never an empty config in between

        # and the new operator keeps watching
        await mesh.create(SPLITS, split("api-split", weights={"api-v1": 1, "api-v2": 1}))
        again = await web.wait_config(lambda m: m["version"] > after["version"], what="the new split")
        assert split_weights(again) == {"api-v1": 1, "api-v2": 1}
        assert [m["version"] for m in web.configs] == [1, 2, 3, 4]


async def test_a_new_controller_process_serves_identical_config_to_a_reconnecting_proxy(
    mesh: Mesh, cluster: kmock.KubernetesEmulator
) -> None:
    await install_all(mesh)
    await mesh.start_operator()
    async with StreamClient(mesh.service.url, namespace="default", pod="web-1") as web:
        old = await web.wait_config(lambda m: split_weights(m) is not None, what="the split")
    await mesh.stop_operator()

    # a second, fresh control plane (new store, new server) over the same cluster state
    compiler = Compiler(MeshSettings(), MESH_GROUPS)
    fresh = ConfigService(store=Store(), compiler=compiler.compile_proxy, coalescing=FAST)
    async with fresh:
        second = Mesh(cluster, fresh, compiler)
        async with StreamClient(fresh.url, namespace="default", pod="web-1") as reconnected:
            await wait_until(lambda: fresh.publisher.connected == 1, what="the reconnect")
            assert reconnected.configs == []  # not synced yet: nothing (above all no empty config)
            try:
                await second.start_operator()
                [first] = await reconnected.wait_configs(1)
            finally:
                await second.stop_operator()
    assert first["config"] == old["config"]
