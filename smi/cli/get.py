"""``smi get KIND [NAME] [-n NS] [-o yaml|json]``: objects of the running local mesh."""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import Any

import yaml

from smi.cli._runtime_client import add_state_dir, with_runtime
from smi.runtime import client, statefile


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("get", help="show objects of the running local mesh")
    parser.add_argument("kind", help="e.g. trafficsplits, ts, trafficsplit, deploy, pods, svc")
    parser.add_argument("name", nargs="?")
    parser.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    parser.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    add_state_dir(parser)
    parser.set_defaults(func=run)


def _summary(kind: str, item: dict[str, Any]) -> str:
    spec = item.get("spec") or {}
    status = item.get("status") or {}
    if kind == "TrafficSplit":
        backends = ", ".join(f"{b.get('service')}={b.get('weight')}" for b in spec.get("backends", []))
        return f"service={spec.get('service')} backends: {backends}"
    if kind == "Pod":
        return f"{status.get('phase', '')} ready={status.get('ready')} ip={status.get('podIP')}"
    if kind == "Deployment":
        return f"replicas={spec.get('replicas')}"
    if kind == "Service":
        return "ports=" + ",".join(str(p.get("port")) for p in spec.get("ports", []) if isinstance(p, dict))
    return ""


def run(args: argparse.Namespace) -> int:
    def body(info: statefile.RuntimeInfo) -> int:
        query = {"kind": args.kind, "namespace": args.namespace or "", "name": args.name or ""}
        answer = client.call(info, "GET", "/v1/objects?" + urllib.parse.urlencode(query))
        items: list[dict[str, Any]] = answer["items"]
        if args.output == "json":
            print(json.dumps(items[0] if args.name else {"kind": "List", "items": items}, indent=2))
        elif args.output == "yaml":
            print(yaml.safe_dump_all(items, sort_keys=False).rstrip())
        else:
            print(f"{'NAMESPACE':<16} {'NAME':<40} DETAILS")
            for item in items:
                meta = item.get("metadata") or {}
                print(f"{meta.get('namespace', ''):<16} {meta.get('name', ''):<40} {_summary(answer['kind'], item)}")
        return 0

    return with_runtime("get", body, args)
