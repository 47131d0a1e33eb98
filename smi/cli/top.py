"""``smi top KIND NAME [-n NS] [--window 10s] [--every 1] [--count N]``: live per-route traffic.

Like ``linkerd viz top``, but from the TrafficMetrics API (edges grouped by route): one
line per (source, destination, route), busiest first, redrawn every ``--every`` seconds
until Ctrl-C (or ``--count`` redraws).  On a terminal the screen is cleared between
frames; otherwise frames follow each other, separated by a blank line.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from smi.cli import _metrics_view as v
from smi.cli._metrics_client import MetricsError, add_target_args, get, path_for
from traffic_metrics.model import kind_for

CLEAR = "\x1b[H\x1b[2J"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("top", help="live per-route view of a resource's traffic (redraws)")
    parser.add_argument("kind", help="deployments (deploy), pods, namespaces, services, ...")
    parser.add_argument("name")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--window", default="10s", help="a duration from 10s to 1h (default 10s)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between redraws (default 1)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many frames (default: until Ctrl-C)")
    add_target_args(parser)
    parser.set_defaults(func=run)


def frame(items: list[dict[str, Any]], *, title: str) -> str:
    header = ["SRC", "DST", "ROUTE", "SIDE", "COUNT", "SUCCESS", "RPS", "BEST", "WORST"]
    rows = []
    for obj in sorted(items, key=lambda o: -v.answered(o)):
        if v.answered(obj) <= 0:
            continue
        edge = obj.get("edge") or {}
        me, other = v.ref_text(obj.get("resource")), v.ref_text(edge.get("resource"))
        src, dst = (me, other) if edge.get("direction") == "to" else (other, me)
        rows.append([src, dst, obj.get("route") or "(default)", str(edge.get("side", "")), f"{v.answered(obj):g}",
                     v.success(obj), v.rps(obj), v.latency(obj, 50), v.latency(obj, 99)])  # fmt: skip
    body = v.render(header, rows) if rows else "(no traffic in the window)"
    return f"{title}\n\n{body}"


def run(args: argparse.Namespace) -> int:
    kind = kind_for(args.kind)
    if kind is None or kind.plural == "trafficsplits":
        print(f"smi top: kind {args.kind!r} has no edges to show", file=sys.stderr)
        return 2
    path = path_for(kind.plural, args.name, args.namespace, edges=True)
    live = sys.stdout.isatty()
    shown = 0
    try:
        while args.count == 0 or shown < args.count:
            started = time.monotonic()
            try:
                answer = get(args, path, {"window": args.window, "groupBy": "route"})
            except MetricsError as exc:
                print(f"smi top: {exc}", file=sys.stderr)
                return 1
            title = f"{kind.kind} {args.namespace}/{args.name}, window {args.window}, {time.strftime('%H:%M:%S')}"
            text = frame(answer.get("items") or [], title=title)
            print((CLEAR if live else ("\n" if shown else "")) + text, flush=True)
            shown += 1
            if args.count and shown >= args.count:
                break
            time.sleep(max(0.0, args.every - (time.monotonic() - started)))  # the redraw interval
    except KeyboardInterrupt:
        return 0
    return 0
