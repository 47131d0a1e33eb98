"""A pod's workload label comes from its controller ownerReference, for every kind of workload.

The sidecar labels its series with the workload the compile names for it (``node.workload``)
and for each endpoint it calls (``Endpoint.workload``); the metrics API, Flagger and Argo
queries select on those names, so a StatefulSet's or a Rollout's pods must be named too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from smi import model as m
from smi.compile import MeshSettings
from smi.model.owners import workload_of
from smi.model.parsing import parse
from tests.compile.compiling import compile_proxy
from tests.compile.manifests import snapshot_of

NS = "shop"


def _pod(name: str, ip: str, owner: tuple[str, str, str] | None, labels: dict[str, str] | None = None) -> m.Resource:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "labels": {"app": "web", **(labels or {})},
        "annotations": {"smi-mesh.io/inbound-port": "15003"},
    }
    if owner is not None:
        api, kind, owner_name = owner
        meta["ownerReferences"] = [
            {"apiVersion": api, "kind": kind, "name": owner_name, "uid": "u-1", "controller": True}
        ]
    raw = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]},
        "status": {"podIP": ip, "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    return parse(raw)


def _replica_set(name: str, owner: tuple[str, str, str] | None) -> m.Resource:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "controller": True}]
    return parse({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": {"replicas": 1}})


PODS = [
    # (pod, its controller, extra labels, the workload the series must carry)
    ("deploy-pod", ("apps/v1", "ReplicaSet", "web-7d4b9c"), {"pod-template-hash": "7d4b9c"}, "web"),
    ("rollout-pod", ("apps/v1", "ReplicaSet", "canary-5f6a7b"), {"rollouts-pod-template-hash": "5f6a7b"}, "canary"),
    ("sts-pod", ("apps/v1", "StatefulSet", "db"), {}, "db"),
    ("ds-pod", ("apps/v1", "DaemonSet", "node-agent"), {}, "node-agent"),
    ("job-pod", ("batch/v1", "Job", "migrate-28312"), {}, "migrate-28312"),
    ("rs-pod", ("apps/v1", "ReplicaSet", "lonely"), {}, "lonely"),
    ("bare-pod", None, {}, ""),
]
REPLICA_SETS = [
    _replica_set("web-7d4b9c", ("apps/v1", "Deployment", "web")),
    _replica_set("canary-5f6a7b", ("argoproj.io/v1alpha1", "Rollout", "canary")),
    _replica_set("lonely", None),
]


def _mesh(*, with_replica_sets: bool) -> list[m.Resource]:
    objects: list[m.Resource] = [
        _pod(name, f"198.18.0.{i + 1}", owner, labels) for i, (name, owner, labels, _) in enumerate(PODS)
    ]
    objects.append(
        parse(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
    )
    return objects + (REPLICA_SETS if with_replica_sets else [])


@pytest.mark.parametrize("with_replica_sets", [True, False], ids=["replicasets-known", "replicasets-not-yet-known"])
def test_every_owner_kind_names_the_workload_on_the_node_and_on_its_endpoints(with_replica_sets: bool) -> None:
    snapshot = snapshot_of(_mesh(with_replica_sets=with_replica_sets))
    settings = MeshSettings(permissive=True)
    expected = {name: workload for name, _, _, workload in PODS}
    if not with_replica_sets:
        expected["rs-pod"] = "lonely"  # no hash label to strip: the ReplicaSet names itself
    for name, workload in expected.items():
        config = compile_proxy(snapshot, namespace=NS, pod=name, settings=settings)
        assert config is not None
        assert config.node.workload == workload, name
    caller = compile_proxy(snapshot, namespace=NS, pod="bare-pod", settings=settings)
    assert caller is not None
    seen = {e.pod: e.workload for c in caller.outbound.clusters for e in c.endpoints}
    assert seen == expected


def test_a_replica_set_owned_by_something_else_names_itself() -> None:
    owners = {"ops-1": ("ReplicaSet", "ops-1")}
    assert workload_of(("ReplicaSet", "ops-1"), {}, owners.get) == ("ReplicaSet", "ops-1")
    assert workload_of(None, {"pod-template-hash": "x"}, owners.get) == ("", "")


def test_a_pod_without_owner_references_is_adopted_by_the_deployment_whose_selector_picks_it() -> None:
    deployment = parse(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app"}]}},
            },
        }
    )
    snapshot = snapshot_of([*_mesh(with_replica_sets=True), deployment])
    settings = MeshSettings(permissive=True)
    bare = compile_proxy(snapshot, namespace=NS, pod="bare-pod", settings=settings)
    sts = compile_proxy(snapshot, namespace=NS, pod="sts-pod", settings=settings)
    assert bare is not None and sts is not None
    assert bare.node.workload == "web"  # no controller: the selector's Deployment (hand-written manifests)
    assert sts.node.workload == "db"  # a controller reference always wins over a selector


def test_a_replica_set_change_relabels_its_pods() -> None:
    objects = _mesh(with_replica_sets=False)
    settings = MeshSettings(permissive=True)
    before = compile_proxy(snapshot_of(objects), namespace=NS, pod="rs-pod", settings=settings)
    adopted = _replica_set("lonely", ("argoproj.io/v1alpha1", "Rollout", "checkout"))
    after = compile_proxy(snapshot_of([*objects, adopted], version=2), namespace=NS, pod="rs-pod", settings=settings)
    assert before is not None and after is not None
    assert (before.node.workload, after.node.workload) == ("lonely", "checkout")


def test_a_replica_set_status_update_is_no_change_for_the_store() -> None:
    from smi.state import Store

    store = Store()
    raw: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-7d4b9c", "namespace": NS, "resourceVersion": "1",
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": True}],
        },
        "status": {"replicas": 1},
    }  # fmt: skip
    assert store.apply(parse(raw)) is True
    raw["metadata"]["resourceVersion"] = "2"
    raw["status"] = {"replicas": 3}
    assert store.apply(parse(raw)) is False  # a rollout's scaling recompiles nothing
    raw["metadata"]["ownerReferences"][0]["name"] = "other"
    assert store.apply(parse(raw)) is True


def test_smi_ups_pods_carry_the_replica_set_reference_a_cluster_would_and_name_their_deployment() -> None:
    from smi.runtime.pods import TEMPLATE_HASH_LABEL, synthesize

    deployment = parse(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bookstore-v1", "namespace": NS},
            "spec": {
                "selector": {"matchLabels": {"app": "bookstore"}},
                "template": {"metadata": {"labels": {"app": "bookstore"}}, "spec": {"containers": [{"name": "a"}]}},
            },
        }
    )
    assert isinstance(deployment, m.Deployment)
    pod = synthesize(deployment, name="bookstore-v1-abc-12345", pod_ip="198.18.9.9")
    ref = pod.meta.controller()
    assert ref is not None and ref.kind == "ReplicaSet"
    assert ref.name == f"bookstore-v1-{pod.meta.labels[TEMPLATE_HASH_LABEL]}"
    # a second Deployment whose selector also picks the pod does not take it: the reference decides
    other = dataclasses.replace(deployment, meta=m.ObjectMeta(name="aaa-first-by-name", namespace=NS))
    config = compile_proxy(
        snapshot_of([pod, other, deployment]), namespace=NS, pod=pod.meta.name, settings=MeshSettings()
    )
    assert config is not None and config.node.workload == "bookstore-v1"
