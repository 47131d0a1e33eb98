"""Statuses for objects the parser would normally stop: the compile records, skips, never raises."""

from __future__ import annotations

from decimal import Decimal

from smi import model as m
from smi.compile import IndexCache, MeshSettings
from smi.compile.status import ObjectStatus
from tests.compile.builders import meta, pod, sa_ref, service, split, target, tcp_all
from tests.compile.compiling import compile_proxy, object_statuses
from tests.compile.manifests import snapshot_of

BASE: list[m.Resource] = [
    pod("client", ip="10.0.0.1", sa="client"),
    pod("web-1", ip="10.0.1.1", sa="web", labels={"app": "web"}),
    service("web", selector={"app": "web"}),
    service("web-v1", selector={"app": "web"}),
]


def statuses(*objects: m.Resource) -> dict[str, ObjectStatus]:
    snap = snapshot_of([*BASE, *objects])
    return {str(k): v for k, v in object_statuses(snap, cache=IndexCache()).items()}


def test_invalid_regex_match_is_skipped_and_narrows_the_rule() -> None:
    group = m.HTTPRouteGroup(
        meta=meta("routes"),
        matches=(m.HTTPMatch("ok", path_regex="/ok"), m.HTTPMatch("bad", headers=(("X-A", "(unclosed"),))),
    )
    tt = target("t", "web", ("client",), (m.RuleRef("HTTPRouteGroup", "routes"),))
    only_bad = target("only-bad", "web", ("client",), (m.RuleRef("HTTPRouteGroup", "routes", ("bad",)),))
    result = statuses(group, tt, only_bad)
    assert result["HTTPRouteGroup default/routes"].reason == "InvalidRegex"
    assert "spec.matches[1].headers.X-A: invalid regular expression" in result["HTTPRouteGroup default/routes"].message
    assert result["TrafficTarget default/t"].accepted
    assert not result["TrafficTarget default/only-bad"].accepted
    cfg = compile_proxy(snapshot_of([*BASE, group, tt]), namespace="default", pod="web-1", settings=MeshSettings())
    assert cfg is not None
    (rule,) = cfg.inbound.rules
    assert [mt.name for mt in rule.matches or ()] == ["ok"]


def test_negative_weight_backend_is_skipped() -> None:
    ts = m.TrafficSplit(
        meta=meta("s"),
        service="web",
        backends=(m.SplitBackend("web-v1", Decimal(-5)), m.SplitBackend("web", Decimal(1))),
    )
    status = statuses(ts)["TrafficSplit default/s"]
    assert status.accepted and status.reason == "InvalidWeight"
    assert "spec.backends[0].weight: must be >= 0, got -5" in status.message


def test_unsupported_kinds_are_reported_and_skipped() -> None:
    tt = m.TrafficTarget(
        meta=meta("t"),
        destination=sa_ref("web"),
        sources=(m.IdentityRef("Group", "admins"), sa_ref("client")),
        rules=(m.RuleRef("GRPCRoute", "x"), m.RuleRef("TCPRoute", "all-tcp")),
    )
    bad_dest = m.TrafficTarget(
        meta=meta("d"), destination=m.IdentityRef("Pod", "web"), sources=(sa_ref("client"),), rules=()
    )
    ts = m.TrafficSplit(
        meta=meta("s"),
        service="web",
        backends=(m.SplitBackend("web-v1", Decimal(1)),),
        matches=(m.TypedRef("TCPRoute", "all-tcp"),),
    )
    result = statuses(tt, bad_dest, ts, tcp_all())
    assert result["TrafficTarget default/t"].accepted
    assert result["TrafficTarget default/t"].reason == "UnsupportedKind"
    assert "spec.sources[0].kind: Group is not supported" in result["TrafficTarget default/t"].message
    assert "spec.rules[0].kind: GRPCRoute is not supported" in result["TrafficTarget default/t"].message
    assert not result["TrafficTarget default/d"].accepted
    assert result["TrafficTarget default/d"].reason == "UnsupportedKind"
    assert not result["TrafficSplit default/s"].accepted
    assert result["TrafficSplit default/s"].reason == "UnsupportedKind"


def test_destination_port_outside_the_tcp_route_drops_the_rule() -> None:
    route = m.TCPRoute(meta=meta("db-ports"), ports=(5432,))
    tt = m.TrafficTarget(
        meta=meta("t"),
        destination=sa_ref("web"),
        sources=(sa_ref("client"),),
        rules=(m.RuleRef("TCPRoute", "db-ports"),),
        destination_port=8080,
        api_version="access.smi-spec.io/v1alpha2",
    )
    status = statuses(route, tt)["TrafficTarget default/t"]
    assert not status.accepted
    assert status.reason == "PortNotAllowed"
    assert "spec.rules[0]: TCPRoute default/db-ports does not cover destination.port 8080" in status.message


def test_split_on_a_group_without_matches_is_not_installed() -> None:
    group = m.HTTPRouteGroup(meta=meta("empty"))
    ts = m.TrafficSplit(
        meta=meta("s"),
        service="web",
        backends=(m.SplitBackend("web-v1", Decimal(1)),),
        matches=(m.TypedRef("HTTPRouteGroup", "empty"),),
    )
    status = statuses(group, ts)["TrafficSplit default/s"]
    assert (status.accepted, status.reason) == (False, "MatchNotFound")


def test_empty_split_and_empty_target_are_not_accepted() -> None:
    result = statuses(split("s", "web"), m.TrafficTarget(meta=meta("t"), destination=sa_ref("web")))
    assert (result["TrafficSplit default/s"].accepted, result["TrafficSplit default/s"].reason) == (False, "NoBackends")
    assert (result["TrafficTarget default/t"].accepted, result["TrafficTarget default/t"].reason) == (
        False,
        "NoSources",
    )


def test_observed_generation_is_the_objects_generation() -> None:
    ts = m.TrafficSplit(
        meta=m.ObjectMeta(name="s", namespace="default", generation=7),
        service="web",
        backends=(m.SplitBackend("web-v1", Decimal(1)),),
    )
    assert statuses(ts)["TrafficSplit default/s"].observed_generation == 7


def test_every_smi_object_gets_a_status_and_core_objects_none() -> None:
    objects: list[m.Resource] = [split("s", "web", ("web-v1", 1)), tcp_all(), target("t", "web", ("client",), ())]
    assert sorted(statuses(*objects)) == [
        "TCPRoute default/all-tcp",
        "TrafficSplit default/s",
        "TrafficTarget default/t",
    ]
