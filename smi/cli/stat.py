"""``smi stat KIND [NAME] [-n NS | -A] [--window 1m] [-o table|json|wide]``: golden metrics per resource.

Columns as ``linkerd viz stat``: NAME, SUCCESS (share of responses that are not 5xx), RPS,
LATENCY_P50/P90/P99; ``wide`` adds the counts (successes, failures, 403s from the mesh's
access policy), MTLS (the share of responses whose hop between sidecars was mutual TLS) and
the window; TrafficSplits show APEX, LEAF, WEIGHT and the measured SHARE.
The numbers come from the TrafficMetrics API (docs/metrics.md) of the local mesh, or of a
cluster with ``--kubeconfig``/``--context``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from smi.cli import _metrics_view as v
from smi.cli._metrics_client import MetricsError, add_target_args, get, path_for
from traffic_metrics.model import KINDS, kind_for


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("stat", help="success rate, RPS and latency per resource (TrafficMetrics API)")
    parser.add_argument("kind", help="namespaces, deployments (deploy), pods, daemonsets, statefulsets, jobs, "
                        "services (svc), trafficsplits (ts)")  # fmt: skip
    parser.add_argument("name", nargs="?")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", default="default")
    scope.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("-l", "--selector", help="label selector, e.g. app=web")
    parser.add_argument("--window", default="30s", help="a duration from 10s to 1h (default 30s)")
    parser.add_argument("-o", "--output", choices=("table", "json", "wide"), default="table")
    add_target_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kind = kind_for(args.kind)
    if kind is None:
        print(f"smi stat: unknown kind {args.kind!r}; known: {', '.join(KINDS)}", file=sys.stderr)
        return 2
    namespace = None if args.all_namespaces or not kind.namespaced else args.namespace
    query = {"window": args.window}
    if args.selector:
        query["labelSelector"] = args.selector
    try:
        answer = get(args, path_for(kind.plural, args.name, namespace), query)
    except MetricsError as exc:
        print(f"smi stat: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(answer, indent=2))
        return 0
    items = answer["items"] if answer.get("kind") == "TrafficMetricsList" else [answer]
    print(table(items, all_namespaces=namespace is None and kind.namespaced, wide=args.output == "wide"))
    return 0


def table(items: list[dict[str, Any]], *, all_namespaces: bool, wide: bool) -> str:
    split = any(i.get("backend") for i in items)
    header = ["NAMESPACE"] if all_namespaces else []
    header += ["NAME"] + (["APEX", "LEAF", "WEIGHT", "SHARE"] if split else [])
    header += ["SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P90", "LATENCY_P99"]
    if wide:
        header += ["SUCCESSES", "FAILURES", "DENIED", "MTLS", "WINDOW"]
    rows = []
    for obj in items:
        meta = obj.get("metadata") or {}
        row = [str(meta.get("namespace", ""))] if all_namespaces else []
        row.append(str(meta.get("name", "")))
        if split:
            backend = obj.get("backend") or {}
            share = v.value(obj, "measured_share")
            row += [str(backend.get("apex", "")), str(backend.get("name", "")), str(backend.get("weight", "")),
                    "-" if math.isnan(share) else f"{100 * share:.1f}%"]  # fmt: skip
        row += [v.success(obj), v.rps(obj), v.latency(obj, 50), v.latency(obj, 90), v.latency(obj, 99)]
        if wide:
            row += [v.count(obj, "success_count"), v.count(obj, "failure_count"), v.count(obj, "denied_count"),
                    v.mtls(obj), str(obj.get("window", ""))]  # fmt: skip
        rows.append(row)
    if not rows:
        return "No traffic metrics found."
    return v.render(header, rows)
