"""``smi edges KIND [NAME] [-n NS] [--window 30s] [-o table|json]``: who talks to whom, both sides.

One line per edge of the resource (or of every resource of the kind in the namespace):
SRC, DST, SIDE (client: measured by the caller's sidecar; server: by the callee's), then
SUCCESS, RPS, LATENCY_P50/P99 and DENIED (403s from the mesh's access policy).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from smi.cli import _metrics_view as v
from smi.cli._metrics_client import MetricsError, add_target_args, get, path_for
from traffic_metrics.model import KINDS, kind_for


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("edges", help="traffic between resources, both sides (TrafficMetrics API)")
    parser.add_argument("kind", help="namespaces, deployments (deploy), pods, daemonsets, statefulsets, jobs, svc")
    parser.add_argument("name", nargs="?", help="one resource (default: every resource of the kind)")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--window", default="30s", help="a duration from 10s to 1h (default 30s)")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    add_target_args(parser)
    parser.set_defaults(func=run)


def edges_of(args: argparse.Namespace, plural: str, namespace: str, names: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name in names:
        answer = get(args, path_for(plural, name, namespace, edges=True), {"window": args.window})
        items += answer.get("items") or []
    return items


def run(args: argparse.Namespace) -> int:
    kind = kind_for(args.kind)
    if kind is None or kind.plural == "trafficsplits":
        known = ", ".join(k for k in KINDS if k != "trafficsplits")
        print(f"smi edges: kind {args.kind!r} has no edges; use one of: {known}", file=sys.stderr)
        return 2
    try:
        if args.name:
            names = [args.name]
        else:
            listing = get(args, path_for(kind.plural, None, args.namespace if kind.namespaced else None),
                          {"window": args.window})  # fmt: skip
            names = [i["metadata"]["name"] for i in listing.get("items") or []]
        items = edges_of(args, kind.plural, args.namespace, names)
    except MetricsError as exc:
        print(f"smi edges: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps({"kind": "TrafficMetricsList", "items": items}, indent=2))
        return 0
    print(table(items))
    return 0


def table(items: list[dict[str, Any]]) -> str:
    header = ["SRC", "DST", "SIDE", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P99", "DENIED"]
    rows = []
    for obj in items:
        edge = obj.get("edge") or {}
        me, other = v.ref_text(obj.get("resource")), v.ref_text(edge.get("resource"))
        src, dst = (me, other) if edge.get("direction") == "to" else (other, me)
        rows.append([src, dst, str(edge.get("side", "")), v.success(obj), v.rps(obj), v.latency(obj, 50),
                     v.latency(obj, 99), v.count(obj, "denied_count")])  # fmt: skip
    return v.render(header, rows) if rows else "No edges found (no traffic in the window)."
