"""What real clients write (Flagger, Argo Rollouts) compiles as they mean it (issue 16 compatibility)."""

from __future__ import annotations

from smi import model as m
from smi.compile import IndexCache, MeshSettings
from tests.compile.builders import pod, service, split
from tests.compile.compiling import compile_proxy, object_statuses
from tests.compile.manifests import snapshot_of

NS = "test"


def mesh(*extra: m.Resource) -> list[m.Resource]:
    return [
        pod("client", ip="10.0.0.1", sa="client", ns=NS),
        pod("podinfo-1", ip="10.0.1.1", sa="podinfo", labels={"app": "podinfo"}, ns=NS),
        pod("canary-1", ip="10.0.1.2", sa="podinfo", labels={"app": "canary"}, ns=NS),
        service("podinfo", selector={"app": "podinfo"}, ns=NS),
        service("podinfo-primary", selector={"app": "podinfo"}, ns=NS),
        service("podinfo-canary", selector={"app": "canary"}, ns=NS),
        *extra,
    ]


def weights(objects: list[m.Resource]) -> dict[str, int]:
    cfg = compile_proxy(
        snapshot_of(objects), namespace=NS, pod="client", settings=MeshSettings(permissive=True), cache=IndexCache()
    )
    assert cfg is not None
    (podinfo,) = [s for s in cfg.outbound.services if s.name == "podinfo"]
    (route,) = podinfo.ports[0].splits
    return {b.service: b.weight for b in route.backends}


def test_a_root_written_as_its_in_cluster_name_is_that_service() -> None:
    for written in ("podinfo.test.svc.cluster.local", "podinfo.test.svc", "podinfo.test"):
        ts = split("podinfo", written, ("podinfo-primary", 90), ("podinfo-canary", 10), ns=NS)
        assert weights(mesh(ts)) == {"podinfo-primary": 9, "podinfo-canary": 1}, written
        status = object_statuses(snapshot_of(mesh(ts)))[m.ObjectKey("TrafficSplit", NS, "podinfo")]
        assert status.accepted and "splits Service test/podinfo port(s) 80" in status.message


def test_an_in_cluster_name_of_another_namespace_is_not_this_namespaces_service() -> None:
    ts = split("podinfo", "podinfo.other.svc.cluster.local", ("podinfo-primary", 1), ns=NS)
    status = object_statuses(snapshot_of(mesh(ts)))[m.ObjectKey("TrafficSplit", NS, "podinfo")]
    assert not status.accepted and status.reason == "RootServiceNotFound"
    assert "'podinfo.other.svc.cluster.local' is not a Service of namespace test" in status.message


def test_the_short_and_the_in_cluster_name_are_one_root_so_two_catch_alls_conflict() -> None:
    short = split("a-short", "podinfo", ("podinfo-primary", 1), ns=NS)
    long = split("b-long", "podinfo.test.svc.cluster.local", ("podinfo-canary", 1), ns=NS)
    statuses = object_statuses(snapshot_of(mesh(short, long)))
    assert statuses[m.ObjectKey("TrafficSplit", NS, "a-short")].accepted
    second = statuses[m.ObjectKey("TrafficSplit", NS, "b-long")]
    assert not second.accepted and second.reason == "Conflict"
