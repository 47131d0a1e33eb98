"""The query layer on synthetic series: resources on the server side, edges on both sides, split backends."""

from __future__ import annotations

import pytest

from traffic_metrics.model import KINDS, Item, Ref, traffic_metrics
from traffic_metrics.query import NotFound, Query
from traffic_metrics.samples import FAILURES, MTLS_RESPONSES, RESPONSES, WIDTH


def test_a_resource_is_its_pods_inbound_traffic(query: Query) -> None:
    (item,) = query.resource_items(KINDS["deployments"], "shop", name="web-v1")
    assert (item.row[RESPONSES], item.row[FAILURES]) == (75, 5)
    (svc,) = query.resource_items(KINDS["services"], "shop", name="web")
    assert svc.row[RESPONSES] == 100
    (ns,) = query.resource_items(KINDS["namespaces"], None, name="shop")
    assert ns.row[RESPONSES] == 100
    statefulsets = query.resource_items(KINDS["statefulsets"], "shop")
    assert [i.resource.name for i in statefulsets] == ["db"]


def test_an_idle_resource_is_listed_with_zeros_and_an_unknown_one_is_not_found(query: Query) -> None:
    items = {i.resource.name: i for i in query.resource_items(KINDS["deployments"], "shop")}
    assert items["buyer"].row[RESPONSES] == 0
    with pytest.raises(NotFound, match='deployments "nope" not found in namespace shop'):
        query.resource_items(KINDS["deployments"], "shop", name="nope")


def test_edges_are_seen_from_both_sides(query: Query) -> None:
    items = query.edge_items(KINDS["deployments"], "shop", "web-v1")
    seen = {(i.direction, i.side, i.other.name if i.other else None): i.row[RESPONSES] for i in items}
    assert seen[("from", "client", "buyer")] == 75
    assert seen[("from", "server", "buyer")] == 75  # named from the verified identity
    assert seen[("to", "client", "db")] == 10
    buyer = query.edge_items(KINDS["deployments"], "shop", "buyer")
    out = {(i.direction, i.side, i.other.name if i.other else None) for i in buyer}
    assert {("to", "client", "web-v1"), ("to", "client", "web-v2"), ("to", "server", "web-v1")} <= out
    db = next(i for i in items if i.other and i.other.name == "db")
    assert db.other is not None and db.other.kind == "StatefulSet"


def test_a_trafficsplit_has_one_item_per_backend_with_weight_and_share(query: Query) -> None:
    items = query.split_items("shop", name="web-split")
    assert [(i.backend.name, i.backend.weight) for i in items if i.backend] == [("web-v1", 75), ("web-v2", 25)]
    assert [i.share for i in items] == [0.75, 0.25]
    obj = traffic_metrics(items[0], when=1_700_000_000, window=30)
    assert obj["backend"] == {"apex": "web", "name": "web-v1", "weight": 75}
    assert obj["edge"] == {"direction": "from", "side": "client", "resource": None}
    names = [m["name"] for m in obj["metrics"]]
    assert names[:5] == ["p99_response_latency", "p90_response_latency", "p50_response_latency", "success_count",
                         "failure_count"]  # fmt: skip
    assert names[-2:] == ["measured_share", "mtls_share"]  # the extras after the five, mtls_share last


def test_mtls_share_is_the_part_of_the_responses_that_crossed_a_mutual_tls_hop(query: Query) -> None:
    web = query.resource_items(KINDS["deployments"], "shop", name="web-v1")[0]
    assert traffic_metrics(web, when=0, window=30)["metrics"][-1] == {"name": "mtls_share", "value": "1"}
    # a quarter of web-v2's calls arrive over plain text (a permissive-mode caller): 3/4 over mTLS
    rows = query.data.rows[("shop", "web-v2-1")]
    ((key, row),) = rows.items()
    plain = [v / 3 for v in row]
    plain[MTLS_RESPONSES] = 0.0
    rows[(*key[:-1], "false")] = plain
    web_v2 = query.resource_items(KINDS["deployments"], "shop", name="web-v2")[0]
    assert traffic_metrics(web_v2, when=0, window=30)["metrics"][-1] == {"name": "mtls_share", "value": "750m"}
    idle = traffic_metrics(Item(Ref("Deployment", "shop", "idle"), [0.0] * WIDTH), when=0, window=30)
    assert idle["metrics"][-1] == {"name": "mtls_share", "value": "0"}
