"""End to end through kopf: a pod's workload follows its ReplicaSet's owner as the controller learns it."""

from __future__ import annotations

from typing import Any

from tests.controllers.conftest import Mesh
from tests.controllers.objects import NS, PODS, install_app, pod
from tests.distribution.helpers import StreamClient

REPLICASETS = f"/apis/apps/v1/namespaces/{NS}/replicasets"


def owned(body: dict[str, Any], kind: str, name: str, api: str = "apps/v1") -> dict[str, Any]:
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": api, "kind": kind, "name": name, "uid": f"uid-{name}", "controller": True}
    ]
    return body


async def test_the_workload_label_follows_the_watched_replica_sets_owner(mesh: Mesh) -> None:
    await install_app(mesh)
    await mesh.create(PODS, owned(pod("pay-1", app="pay", sa="api", ip="127.0.10.7"), "ReplicaSet", "pay-rs"))
    await mesh.create(PODS, owned(pod("db-0", app="db", sa="api", ip="127.0.10.8"), "StatefulSet", "db"))
    await mesh.start_operator()
    async with (
        StreamClient(mesh.service.url, namespace=NS, pod="pay-1") as pay,
        StreamClient(mesh.service.url, namespace=NS, pod="db-0") as db,
    ):
        # the ReplicaSet is not known yet (and its pod has no hash label to strip): it names itself
        first = await pay.wait_config(lambda m: True, what="pay-1's first config")
        assert first["config"]["node"]["workload"] == "pay-rs"
        stateful = await db.wait_config(lambda m: True, what="db-0's first config")
        assert stateful["config"]["node"]["workload"] == "db"

        rollout = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "pay-rs", "namespace": NS}}
        await mesh.create(REPLICASETS, owned(rollout, "Rollout", "payments", api="argoproj.io/v1alpha1"))
        await pay.wait_config(lambda m: m["config"]["node"]["workload"] == "payments", what="the Rollout's name")
