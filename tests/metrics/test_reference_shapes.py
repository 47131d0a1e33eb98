"""Our JSON has the reference server's shape: the same fields in the same order, the five metrics first.

Compared with the verbatim smi-metrics answers in ../shared/smi-spec/metrics/ (skipped
where that folder is absent).  Our objects may carry more (``edge.side``, ``backend``,
extra metrics after the five); never less, never reordered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traffic_metrics.model import KINDS, Item, Ref, traffic_metrics, traffic_metrics_list
from traffic_metrics.quantity import parse_go_duration, parse_quantity
from traffic_metrics.samples import WIDTH

pytestmark = pytest.mark.shared


def _reference(shared_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_dir / "smi-spec" / "metrics" / name).read_text())
    return data


def _in_order(ours: list[str], theirs: list[str]) -> bool:
    positions = [ours.index(k) for k in theirs]
    return positions == sorted(positions)


def _check_object(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert _in_order(list(ours), list(theirs)), (list(ours), list(theirs))
    assert set(theirs["metadata"]) <= set(ours["metadata"])
    assert set(theirs["edge"]) <= set(ours["edge"])
    ours_metrics = [(m["name"], m.get("unit")) for m in ours["metrics"]][: len(theirs["metrics"])]
    assert ours_metrics == [(m["name"], m.get("unit")) for m in theirs["metrics"]]
    for metric in ours["metrics"]:
        parse_quantity(metric["value"])
    parse_go_duration(ours["window"])


def test_a_get_has_the_reference_shape(shared_dir: Path) -> None:
    theirs = _reference(shared_dir, "smi-metrics-readme-get-deployment-linkerd-web.json")
    ours = traffic_metrics(Item(Ref("Deployment", "linkerd", "linkerd-web"), [0.0] * WIDTH), when=0, window=30)
    _check_object(ours, theirs)
    assert ours["resource"] == theirs["resource"] and ours["window"] == theirs["window"]
    assert ours["edge"]["resource"] is theirs["edge"]["resource"] is None


def test_an_edges_list_has_the_reference_shape(shared_dir: Path) -> None:
    theirs = _reference(shared_dir, "smi-metrics-readme-edges-deployment-linkerd-controller.json")
    me = Ref("Deployment", "linkerd", "linkerd-controller")
    item = Item(me, [0.0] * WIDTH, direction="from", side="client", other=Ref("Deployment", "linkerd", "linkerd-web"),
                edges=True)  # fmt: skip
    link = "/apis/metrics.smi-spec.io/v1alpha1/namespaces/linkerd/deployments/linkerd-controller/edges"
    ours = traffic_metrics_list([item], resource=me, link=link, when=0, window=30)
    assert _in_order(list(ours), list(theirs))
    assert ours["resource"] == theirs["resource"]
    _check_object(ours["items"][0], theirs["items"][0])
    assert ours["items"][0]["metadata"]["selfLink"] == theirs["items"][0]["metadata"]["selfLink"]
    assert {k.plural for k in KINDS.values()} >= {"deployments", "pods", "daemonsets", "statefulsets", "namespaces"}
