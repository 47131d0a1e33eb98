"""The page's model code (traffic_metrics/dashboard/static/graph.js), run under node.

It is what turns metrics API answers into what the map draws, so a wrong number here is a wrong
number on the screen: edges from the right side, denied traffic, TrafficSplit shares.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRAPH = ROOT / "traffic_metrics" / "dashboard" / "static" / "graph.js"
PROBE = Path(__file__).with_name("model_probe.mjs")

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node (apt-get install -y nodejs)")


def run_model(payload: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(PROBE), str(GRAPH)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def deployment(ns: str, name: str) -> dict[str, str]:
    return {"kind": "Deployment", "namespace": ns, "name": name}


def item(
    resource: dict[str, str],
    *,
    success: str,
    failure: str = "0",
    p99: str = "12500m",
    edge: Any = None,
    extra: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "kind": "TrafficMetrics",
        "window": "30s",
        "resource": resource,
        "edge": edge,
        "metrics": [
            {"name": "p99_response_latency", "unit": "ms", "value": p99},
            {"name": "p90_response_latency", "unit": "ms", "value": "9"},
            {"name": "p50_response_latency", "unit": "ms", "value": "2500m"},
            {"name": "success_count", "value": success},
            {"name": "failure_count", "value": failure},
            *(extra or []),
        ],
    }


BUYER, STORE, THIEF = (
    deployment("bookstore", "bookbuyer"),
    deployment("bookstore", "bookstore-v1"),
    deployment("bookstore", "bookthief"),
)


def test_client_side_edge_wins_over_the_server_side_of_the_same_pair() -> None:
    result = run_model(
        {
            "workloads": [item(BUYER, success="600"), item(STORE, success="590")],
            "edgeLists": [
                {
                    "items": [
                        item(
                            BUYER,
                            success="600",
                            failure="3",
                            edge={"direction": "to", "side": "client", "resource": STORE},
                        )
                    ]
                },
                {
                    "items": [
                        item(STORE, success="590", edge={"direction": "from", "side": "server", "resource": BUYER})
                    ]
                },
            ],
        }
    )
    (edge,) = result["model"]["edges"]
    assert (edge["source"], edge["target"], edge["side"]) == (
        "Deployment/bookstore/bookbuyer",
        "Deployment/bookstore/bookstore-v1",
        "client",
    )
    assert edge["figures"]["total"] == 603
    assert edge["figures"]["rps"] == pytest.approx(20.1)
    assert result["labels"][edge["id"]] == "20.1 rps · 99.5% · p99 12.5 ms"


def test_server_side_edge_is_drawn_when_the_caller_reports_nothing() -> None:
    result = run_model(
        {
            "edgeLists": [
                {"items": [item(STORE, success="30", edge={"direction": "from", "side": "server", "resource": BUYER})]}
            ]
        }
    )
    (edge,) = result["model"]["edges"]
    assert edge["source"] == "Deployment/bookstore/bookbuyer" and edge["side"] == "server"


def test_denied_traffic_is_its_own_rate_and_label() -> None:
    denied = [{"name": "denied_count", "value": "150"}]
    result = run_model(
        {
            "edgeLists": [
                {
                    "items": [
                        item(
                            THIEF,
                            success="0",
                            failure="150",
                            extra=denied,
                            edge={"direction": "to", "side": "client", "resource": STORE},
                        ),
                    ]
                }
            ]
        }
    )
    (edge,) = result["model"]["edges"]
    assert edge["denied"] == pytest.approx(5.0)
    assert "denied 5.00/s" in result["labels"][edge["id"]]


def test_edges_without_a_named_peer_are_not_drawn() -> None:
    result = run_model(
        {
            "edgeLists": [
                {
                    "items": [
                        item(STORE, success="30", edge={"direction": "from", "side": "server", "resource": None}),
                        item(
                            STORE,
                            success="30",
                            edge={"direction": "from", "side": "server", "resource": {"namespace": "bookstore"}},
                        ),
                    ]
                }
            ]
        }
    )
    assert result["model"]["edges"] == []


def test_split_backends_carry_configured_weight_and_measured_share() -> None:
    split = {"kind": "TrafficSplit", "namespace": "bookstore", "name": "bookstore-split"}
    v1 = item(split, success="450")
    v1["backend"] = {"apex": "bookstore", "name": "bookstore-v1", "weight": 75}
    v2 = item(split, success="140", failure="10")
    v2["backend"] = {"apex": "bookstore", "name": "bookstore-v2", "weight": 25}
    result = run_model({"splits": [v2, v1]})
    (model_split,) = result["model"]["splits"]
    shares = {b["name"]: (b["configured"], b["measured"]) for b in model_split["backends"]}
    assert shares == {"bookstore-v1": (0.75, 0.75), "bookstore-v2": (0.25, 0.25)}
    assert result["namespaces"] == ["bookstore"]


def test_quantities_with_suffixes_are_read_as_numbers() -> None:
    result = run_model({"workloads": [item(BUYER, success="2k", failure="1500m", p99="1.5")]})
    (node,) = result["model"]["nodes"]
    assert node["figures"]["total"] == pytest.approx(2001.5)
    assert node["figures"]["p99"] == pytest.approx(1.5)


@pytest.mark.parametrize(("share", "locked"), [("1", True), ("999m", True), ("998m", False), (None, False)])
def test_the_lock_needs_an_mtls_share_of_at_least_0_999(share: str | None, locked: bool) -> None:
    extra = [{"name": "mtls_share", "value": share}] if share is not None else []
    edge = {"direction": "to", "side": "client", "resource": STORE}
    result = run_model({"edgeLists": [{"items": [item(BUYER, success="30", edge=edge, extra=extra)]}]})
    (drawn,) = result["model"]["edges"]
    assert ("\U0001f512" in result["labels"][drawn["id"]]) is locked
