""" "Only the part of the mesh it needs": outbound services and inbound rules per proxy."""

from __future__ import annotations

from smi import model as m
from smi.compile import IndexCache, MeshSettings
from smi.proxyconfig import ProxyConfig
from tests.compile.builders import pod, service, split, target, tcp_all
from tests.compile.compiling import compile_proxy
from tests.compile.manifests import snapshot_of

TCP = (m.RuleRef("TCPRoute", "all-tcp"),)


def mesh(*extra: m.Resource) -> list[m.Resource]:
    return [
        pod("client", ip="10.0.0.1", sa="client", labels={"app": "client"}),
        pod("stranger", ip="10.0.0.2", sa="stranger", labels={"app": "stranger"}),
        pod("api-1", ip="10.0.1.1", sa="api", labels={"app": "api"}),
        pod("db-1", ip="10.0.2.1", sa="db", labels={"app": "db"}),
        service("api", selector={"app": "api"}),
        service("db", selector={"app": "db"}),
        service("empty", selector={"app": "nobody"}),
        tcp_all(),
        target("client-to-api", "api", ("client",), TCP),
        target("api-to-db", "db", ("api",), TCP),
        *extra,
    ]


def config(objects: list[m.Resource], name: str, *, permissive: bool = False) -> ProxyConfig:
    result = compile_proxy(
        snapshot_of(objects),
        namespace="default",
        pod=name,
        settings=MeshSettings(permissive=permissive),
        cache=IndexCache(),
    )
    assert result is not None
    return result


def services(cfg: ProxyConfig) -> list[str]:
    return [s.name for s in cfg.outbound.services]


def clusters(cfg: ProxyConfig) -> list[str]:
    return [c.name for c in cfg.outbound.clusters]


def test_deny_mode_outbound_holds_only_reachable_services_and_their_clusters() -> None:
    objects = mesh()
    assert services(config(objects, "client")) == ["api"]
    assert clusters(config(objects, "client")) == ["default/api:80"]
    assert services(config(objects, "api-1")) == ["db"]
    assert services(config(objects, "stranger")) == []
    assert clusters(config(objects, "stranger")) == []


def test_permissive_mode_outbound_holds_every_service() -> None:
    cfg = config(mesh(), "stranger", permissive=True)
    assert services(cfg) == ["api", "db", "empty"]
    assert cfg.inbound.permissive is True


def test_split_root_comes_with_every_backend_when_one_backend_is_reachable() -> None:
    objects = mesh(service("front", selector=None), split("front-split", "front", ("api", 1), ("db", 1)))
    cfg = config(objects, "client")
    assert services(cfg) == ["api", "db", "front"]
    (front,) = [s for s in cfg.outbound.services if s.name == "front"]
    assert [b.service for b in front.ports[0].splits[0].backends] == ["api", "db"]
    assert services(config(objects, "stranger")) == []


def test_inbound_holds_only_rules_for_the_pods_identity_and_peers_of_their_sources() -> None:
    objects = mesh()
    api = config(objects, "api-1")
    assert [r.name for r in api.inbound.rules] == ["default/client-to-api/TCPRoute/all-tcp"]
    assert api.inbound.peers == (("10.0.0.1", "spiffe://cluster.local/ns/default/sa/client"),)
    db = config(objects, "db-1")
    assert [r.name for r in db.inbound.rules] == ["default/api-to-db/TCPRoute/all-tcp"]
    assert db.inbound.peers == (("10.0.1.1", "spiffe://cluster.local/ns/default/sa/api"),)
    assert config(objects, "client").inbound.rules == ()


def test_removing_the_target_removes_the_service_from_the_callers_config() -> None:
    objects = [o for o in mesh() if not (isinstance(o, m.TrafficTarget) and o.meta.name == "client-to-api")]
    assert services(config(objects, "client")) == []
    assert config(objects, "api-1").inbound.rules == ()


def test_unknown_pod_gets_none() -> None:
    snap = snapshot_of(mesh())
    assert compile_proxy(snap, namespace="default", pod="ghost", settings=MeshSettings()) is None
    assert compile_proxy(snap, namespace="other", pod="client", settings=MeshSettings()) is None


def test_nested_split_is_not_followed() -> None:
    objects = mesh(
        service("front", selector=None),
        split("front-split", "front", ("api", 1)),
        split("api-split", "api", ("db", 1)),
    )
    cfg = config(objects, "client", permissive=True)
    (front,) = [s for s in cfg.outbound.services if s.name == "front"]
    assert [b.cluster for b in front.ports[0].splits[0].backends] == ["default/api:80"]
