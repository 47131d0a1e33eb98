"""``smi status``: pods, their processes (restarts, last exit), sidecars, config versions, mTLS, health.

The mTLS line names the mode and the local CA (its root's SHA-256 fingerprint, the same
across restarts of ``smi up`` on one state dir; ``smi ca status --dir <state dir>/ca`` shows
more); each sidecar's row shows when its workload certificate expires, as its ``/metrics``
report it.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from smi.cli._runtime_client import add_state_dir, with_runtime
from smi.runtime import client, statefile
from smi.runtime.describing import age, since


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="show the running local mesh")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    add_state_dir(parser)
    parser.set_defaults(func=run)


def _process_line(p: dict[str, Any]) -> str:
    last = f" last exit {p['last_exit']} {since(p['last_exit_at'])} ago" if p["last_exit"] is not None else ""
    wait = f" next start in {p['next_start_in']:.0f}s" if p.get("next_start_in") is not None else ""
    name = p["name"].rsplit("/", 1)[-1]
    pid = p["pid"] or "-"
    return f"    {name:<12} {p['state']:<9} pid {pid:<8} restarts {p['restarts']}{last}{wait}"


def _expires(sidecar: dict[str, Any]) -> str:
    expiry = sidecar.get("certificate_expiry")
    if expiry is None:
        return "-"
    left = expiry - time.time()
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expiry))
    return f"{when} (in {age(left)})" if left > 0 else f"{when} (EXPIRED)"


def _mtls_line(mtls: dict[str, Any] | None) -> str:
    if not mtls:
        return "mTLS unknown"
    if mtls.get("mode") == "off":
        return "mTLS off (plain text between sidecars; no CA)"
    rotating = ", rotating" if mtls.get("rotating") else ""
    return (
        f"mTLS {mtls['mode']}  trust domain {mtls.get('trust_domain')}  CA {mtls.get('ca_dir')}  "
        f"root sha256 {mtls.get('root_sha256')}{rotating}"
    )


def print_status(data: dict[str, Any]) -> None:
    rt = data["runtime"]
    print(f"local mesh pid {rt['pid']}  up {age(rt['uptime'])}  manifests {rt['manifests']}")
    print(
        f"control plane {rt['config_url']}  store version {rt['store_version']}  "
        f"connected proxies {rt['connected_proxies']}"
    )
    print(_mtls_line(rt.get("mtls")))
    if rt.get("metrics_api"):
        print(f"metrics API {rt['metrics_api']}  kubeconfig {rt.get('kubeconfig')}")
    if rt.get("dashboard"):
        print(f"dashboard {rt['dashboard']}  (smi dashboard opens it)")
    print()
    print(f"{'POD':<46} {'IP':<15} {'READY':<6} {'SIDECAR':<10} {'CONFIG':<7} {'MTLS':<11} CERT EXPIRES")
    for pod in data["pods"]:
        sidecar = pod["sidecar"]
        version = sidecar.get("config_version")
        print(
            f"{pod['namespace'] + '/' + pod['name']:<46} {pod['ip']:<15} {'yes' if pod['ready'] else 'no':<6} "
            f"{'ready' if sidecar['ready'] else 'not ready':<10} "
            f"{'v' + str(version if version is not None else '-'):<7} {sidecar.get('mtls') or '-':<11} "
            f"{_expires(sidecar)}"
        )
        for process in pod["processes"]:
            print(_process_line(process))
    objects = data.get("objects") or {}
    if objects:
        print()
        print("SMI objects:")
        for key, st in sorted(objects.items()):
            mark = "ok" if st.get("accepted") else "NOT ACCEPTED"
            detail = "" if st.get("reason") == "Accepted" else f" ({st.get('reason')}: {st.get('message')})"
            print(f"  {key}: {mark}{detail}")
    if data.get("problems"):
        print()
        print("Problems in the manifests (ignored; last good versions kept):")
        for line in data["problems"]:
            print(f"  {line}")


def run(args: argparse.Namespace) -> int:
    def body(info: statefile.RuntimeInfo) -> int:
        data = client.call(info, "GET", "/v1/status")
        if args.output == "json":
            print(json.dumps(data, indent=2))
        else:
            print_status(data)
        return 0

    return with_runtime("status", body, args)
