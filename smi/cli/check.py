"""``smi check [--pre | --proxy] [-o json]``: is the mesh healthy?  One line per check, exit 1 on a failure.

See ``smi.cluster.checking`` for what each check does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from smi.cli._kubeflags import add_connection, connect, fail


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("check", help="check the cluster install (like linkerd check)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--pre", action="store_true", help="before smi install: can it go here?")
    mode.add_argument("--proxy", action="store_true", help="every meshed pod's sidecar has its config")
    add_connection(parser, namespaced=True, all_namespaces=True)
    parser.add_argument("--control-plane-namespace", default="smi-system", metavar="NS")
    parser.add_argument("--expiry-warning-days", type=int, default=30, help="fail certificates expiring sooner (30)")
    parser.add_argument("--probe-namespace", default="default",
                        help="namespace of the dry-run pod that tests the webhook (default: default)")  # fmt: skip
    parser.add_argument("-o", "--output", choices=("text", "wide", "json"), default="text",
                        help="text: details of failures; wide: details and hints of every check; json")  # fmt: skip
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from smi.cluster.checking import CheckContext, run_checks
    from smi.cluster.kube import KubeError

    client = connect(args, prog="smi check")
    ctx = CheckContext(client=client, namespace=args.control_plane_namespace,
                       expiry_warning=datetime.timedelta(days=args.expiry_warning_days),
                       probe_namespace=args.probe_namespace)  # fmt: skip
    mode = "pre" if args.pre else "proxy" if args.proxy else "install"
    scope = None if args.all_namespaces else args.namespace  # as kubectl: the context's namespace, or -A
    try:
        results = run_checks(ctx, mode=mode, namespace=scope)
    except KubeError as e:
        return fail("smi check", e)
    failed = [r for r in results if not r.ok]
    if args.output == "json":
        json.dump({"ok": not failed, "checks": [r.as_json() for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 1 if failed else 0
    group = None
    for r in results:
        if r.group != group:
            group = r.group
            print(f"{group}\n{'-' * len(group)}")
        wide = args.output == "wide"
        shown = r.detail and (wide or not r.ok or r.group in ("kubernetes-api", "control-plane", "certificates"))
        print(f"{'[ok]  ' if r.ok else '[FAIL]'} {r.name}" + (f": {r.detail}" if shown else ""))
        if r.hint and (wide or not r.ok):
            print(f"    see: {r.hint}")
    verdict = "ok" if not failed else "FAILED"
    print(f"\nsmi check: {verdict} ({len(results) - len(failed)}/{len(results)} passed)")
    return 1 if failed else 0
