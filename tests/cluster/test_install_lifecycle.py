"""smi install → check → namespace/inject → check red → uninstall, on the stand-in cluster."""

from __future__ import annotations

from typing import Any

from smi.cluster.resources import path_of
from tests.cluster.conftest import StandIn

FAST = ("--lease-duration", "3")


def app_pod(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                           "labels": {"app": "web"}},
            "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": "web:1"}]}}  # fmt: skip


async def wait_async(condition: Any, *, within: float, what: str) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def healthy_install(standin: StandIn, *flags: str) -> None:
    await standin.install_from_dry_run(*FAST, *flags)
    await standin.start_control_plane()

    async def leader() -> bool:
        return await standin.lease_holder() is not None

    await wait_async(leader, within=60, what="a controller to take the Lease")
    await standin.set_metrics_available(True)


async def test_install_is_idempotent_check_is_green_then_red_on_the_right_line_and_uninstall_is_clean(
    standin: StandIn,
) -> None:
    await healthy_install(standin)

    again = await standin.run_smi("install", *FAST)
    assert again.code == 0, again
    actions = [line.rsplit(" ", 1)[1] for line in again.out.splitlines() if not line.startswith("smi install:")]
    assert set(actions) == {"unchanged", "kept"} and actions.count("kept") == 2, again  # the two CA Secrets kept
    assert "smi install: 0 object(s) changed" in again.out

    # smi upgrade applies a changed option and nothing else
    upgraded = await standin.run_smi("upgrade", *FAST, "--replicas", "3")
    assert upgraded.code == 0, upgraded
    changed = [line for line in upgraded.out.splitlines() if line.endswith((" configured", " created"))]
    assert changed == ["Deployment smi-system/smi-controller configured"], upgraded
    deployment = await standin.get("/apis/apps/v1/namespaces/smi-system/deployments/smi-controller")
    assert deployment is not None and deployment["spec"]["replicas"] == 3
    back = await standin.run_smi("upgrade", *FAST)
    assert back.code == 0 and "1 object(s) changed" in back.out, back

    green = await standin.run_smi("check")
    assert green.code == 0, green
    assert "[FAIL]" not in green.out and "the injection webhook answers the API server" in green.out

    # a namespace joins the mesh; its pods get the sidecar through the real webhook
    await standin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    added = await standin.run_smi("namespace", "add", "shop")
    assert added.code == 0, added
    status, pod = await standin.create("/api/v1/namespaces/shop/pods", app_pod("web-1", "shop"))
    assert status < 300, pod
    assert [c["name"] for c in pod["spec"]["containers"]] == ["web", "smi-proxy"]
    proxy = pod["spec"]["containers"][1]
    assert "--drain-grace" in proxy["args"] and proxy["lifecycle"]["preStop"]

    # the metrics API goes down: exactly that line fails
    await standin.set_metrics_available(False, "failing or missing response from https://smi-metrics:443")
    red = await standin.run_smi("check")
    assert red.code == 1, red
    failed = [line for line in red.out.splitlines() if line.startswith("[FAIL]")]
    assert failed == [
        f"[FAIL] APIService v1alpha1.{group} is Available: FailedDiscoveryCheck: failing or missing "
        "response from https://smi-metrics:443"
        for group in ("metrics.smi-spec.io", "tap.smi-mesh.io", "monitoring.smi-mesh.io")  # one server serves all
    ], red
    await standin.set_metrics_available(True)

    # the webhooks go down: pods of the meshed namespace are refused (fail closed), check names the webhook
    assert standin.control_plane is not None
    await standin.control_plane.stop_webhooks()
    status, refused = await standin.create("/api/v1/namespaces/shop/pods", app_pod("web-2", "shop"))
    assert status == 500 and "failed calling webhook" in refused["message"], refused
    red = await standin.run_smi("check", "-o", "json")
    assert red.code == 1, red
    import json

    failed_checks = [c for c in json.loads(red.out)["checks"] if not c["ok"]]
    assert [c["check"] for c in failed_checks] == ["the injection webhook answers the API server"], red
    assert "failed calling webhook" in failed_checks[0]["detail"]

    # uninstall refuses while a meshed pod runs, then removes everything with --force
    await standin.front.emulator("PATCH", "/api/v1/namespaces/shop/pods/web-1", {"status": {"phase": "Running"}})
    refused_uninstall = await standin.run_smi("uninstall")
    assert refused_uninstall.code == 1 and "shop/web-1" in refused_uninstall.err, refused_uninstall
    assert await standin.get(path_of(standin.rendered[-1])) is not None  # nothing was removed
    removed = await standin.run_smi("uninstall", "--force")
    assert removed.code == 0, removed
    left = [path_of(o) for o in standin.rendered if await standin.get(path_of(o)) is not None]
    assert left == []
