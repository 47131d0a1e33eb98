"""Deny-by-default: the compile lists the mesh services a proxy may NOT reach (``OutboundConfig.denied``),
so the caller's own sidecar can answer 403 for them and 404 only for names that are no mesh service."""

from __future__ import annotations

import dataclasses

from smi import model as m
from smi.compile import IndexCache, MeshSettings
from smi.proxyconfig import DeniedServices
from smi.state import Store
from tests.compile.builders import meta, pod, service, split, target
from tests.compile.compiling import compile_proxy
from tests.compile.manifests import snapshot_of
from tests.compile.test_filtering import TCP, config, mesh


def listed(denied: DeniedServices) -> list[tuple[str, str, str]]:
    return [
        (group.namespace, name, ip)
        for group in denied.namespaces
        for name, ip in zip(group.names, group.cluster_ips, strict=True)
    ]


def denied(objects: list[m.Resource], name: str) -> list[tuple[str, str]]:
    return [(ns, svc) for ns, svc, _ in listed(config(objects, name).outbound.denied)]


def test_deny_mode_lists_every_other_service_and_never_an_allowed_one() -> None:
    objects = mesh(service("web", selector={"app": "web"}, ns="shop"))
    client = config(objects, "client")
    assert [s.name for s in client.outbound.services] == ["api"]
    assert denied(objects, "client") == [("default", "db"), ("default", "empty"), ("shop", "web")]
    assert denied(objects, "api-1") == [("default", "api"), ("default", "empty"), ("shop", "web")]
    assert denied(objects, "stranger") == [("default", "api"), ("default", "db"), ("default", "empty"), ("shop", "web")]
    assert client.outbound.denied.cluster_domain == "cluster.local"


def test_split_members_that_come_with_a_reachable_backend_are_not_denied() -> None:
    objects = mesh(service("front", selector=None), split("front-split", "front", ("api", 1), ("db", 1)))
    assert denied(objects, "client") == [("default", "empty")]


def test_denied_entries_carry_the_cluster_ip_unless_headless_and_the_cluster_domain() -> None:
    objects = mesh(
        m.Service(meta=meta("ip"), ports=(m.ServicePort(port=80),), selector={"app": "x"}, cluster_ip="10.96.0.9"),
        m.Service(meta=meta("headless"), ports=(m.ServicePort(port=80),), selector={"app": "x"}, cluster_ip="None"),
    )
    result = compile_proxy(
        snapshot_of(objects), namespace="default", pod="stranger",
        settings=MeshSettings(cluster_domain="mesh.example"), cache=IndexCache(),
    )  # fmt: skip
    assert result is not None
    by_name = {svc: (ns, ip) for ns, svc, ip in listed(result.outbound.denied)}
    assert by_name["ip"] == ("default", "10.96.0.9")
    assert by_name["headless"] == ("default", "")
    assert result.outbound.denied.cluster_domain == "mesh.example"


def test_permissive_mode_denies_nothing() -> None:
    assert config(mesh(), "stranger", permissive=True).outbound.denied.namespaces == ()


def test_the_list_is_shared_and_kept_across_a_change_that_does_not_alter_it() -> None:
    store = Store()
    for obj in mesh(pod("stranger-2", ip="10.0.0.3", sa="other", labels={"app": "stranger"})):
        store.apply(obj)
    settings, cache = MeshSettings(), IndexCache()

    def denied_of(pod_name: str) -> DeniedServices:
        result = compile_proxy(store.snapshot(), namespace="default", pod=pod_name, settings=settings, cache=cache)
        assert result is not None
        return result.outbound.denied

    first, other = denied_of("stranger"), denied_of("stranger-2")
    # two identities that may reach nothing: the very same per-namespace lists
    assert first == other
    assert all(a is b for a, b in zip(first.namespaces, other.namespaces, strict=True))
    store.apply(split("s", "empty", ("empty", 1)))  # a split change that reaches nobody new
    assert denied_of("stranger") is first  # the same object: the config server reuses its text
    store.apply(target("stranger-to-db", "db", ("stranger",), TCP))
    assert [svc for _, svc, _ in listed(denied_of("stranger"))] == ["api", "empty"]
    db = next(o for o in mesh() if isinstance(o, m.Service) and o.meta.name == "db")
    store.apply(dataclasses.replace(db, cluster_ip="10.96.0.7"))
    assert ("default", "db", "10.96.0.7") in listed(denied_of("stranger-2"))
