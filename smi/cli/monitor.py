"""``smi monitor``: list or switch the monitoring level of namespaces and workloads.

::

    smi monitor [-n NS | -A]                                   the level of each namespace and Deployment
    smi monitor ns/NAME --level off|golden|routes              switch a namespace
    smi monitor deploy/NAME -n NS --level golden               switch a workload (it wins over its namespace)
    smi monitor deploy/NAME -n NS --clear                      back to what the manifests / namespace say

Levels (docs/semantics.md, "Monitoring on demand"): ``off`` (no per-edge series, no tap),
``golden`` (per-edge golden metrics, no per-route split, no tap), ``routes`` (everything;
the default).  Against the local mesh the level is set through its control API as an
overlay on the stored object (kept across manifest reloads until changed or cleared);
against a cluster (``--kubeconfig``/``--context``) the ``smi-mesh.io/monitoring``
annotation is merge-patched, as ``kubectl annotate`` would.  Switching restarts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote, urlencode

from smi.compile.monitoring import MONITORING_ANNOTATION
from smi.proxyconfig.monitoring import MONITORING_LEVELS
from smi.runtime import client, statefile
from traffic_metrics.levels import levels_of

BASE = "/apis/monitoring.smi-mesh.io/v1alpha1"
KINDS = {"ns": "namespaces", "namespace": "namespaces", "namespaces": "namespaces",
         "deploy": "deployments", "deployment": "deployments", "deployments": "deployments"}  # fmt: skip


class MonitorError(Exception):
    pass


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("monitor", help="list or switch monitoring levels (off, golden, routes)")
    parser.add_argument("target", nargs="?", help="ns/NAME or deploy/NAME (none: list the levels)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="the workload's namespace (listing: only this one)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="list every namespace (the default)")
    change = parser.add_mutually_exclusive_group()
    change.add_argument("--level", choices=MONITORING_LEVELS, help="the level to set")
    change.add_argument("--clear", action="store_true", help="remove the level set here (the next source decides)")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    parser.add_argument("--kubeconfig", help="switch in this cluster (default: the local mesh)")
    parser.add_argument("--context", help="kubeconfig context (implies the cluster)")
    parser.add_argument("--state-dir", help="the local mesh's state dir (default $SMI_STATE_DIR or ./.smi)")
    parser.set_defaults(func=run)


def parse_target(text: str, namespace: str | None) -> tuple[str, str, str]:
    """(plural, namespace, name) of ``ns/NAME`` or ``deploy/NAME``; MonitorError naming what is wrong."""
    kind, _, name = text.partition("/")
    plural = KINDS.get(kind.lower())
    if plural is None or not name or "/" in name:
        raise MonitorError(f"target {text!r}: expected ns/NAME or deploy/NAME")
    if plural == "namespaces":
        return plural, name, name
    return plural, namespace or "default", name


# -- the local mesh ----------------------------------------------------------------------------


def _local(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    try:
        info = client.find(statefile.state_dir(args.state_dir))
        return client.call(info, method, path, body, timeout=15)
    except client.NotRunning as exc:
        raise MonitorError(f"{exc} (or pass --kubeconfig/--context for a cluster)") from exc
    except client.ApiError as exc:
        message = exc.body.get("message") if isinstance(exc.body, dict) else None
        raise MonitorError(str(message or exc.body)) from exc


def local_list(args: argparse.Namespace) -> list[dict[str, Any]]:
    query = "?" + urlencode({"namespace": args.namespace}) if args.namespace else ""
    items: list[dict[str, Any]] = _local(args, "GET", f"{BASE}/levels{query}").get("items", [])
    return items


def local_set(args: argparse.Namespace, plural: str, ns: str, name: str, level: str | None) -> dict[str, Any]:
    where = f"namespaces/{quote(ns)}" + ("" if plural == "namespaces" else f"/{plural}/{quote(name)}")
    answer: dict[str, Any] = _local(args, "POST", f"{BASE}/{where}/level", {"level": level})
    return answer


# -- a cluster ---------------------------------------------------------------------------------


def _object_path(plural: str, ns: str, name: str) -> str:
    if plural == "namespaces":
        return f"/api/v1/namespaces/{quote(ns)}"
    return f"/apis/apps/v1/namespaces/{quote(ns)}/deployments/{quote(name)}"


def _cluster_set(kube: Any, target: tuple[str, str, str], level: str | None) -> list[dict[str, Any]]:
    from smi.cluster.kube import ApiError

    plural, ns, name = target
    what = f"Namespace {ns}" if plural == "namespaces" else f"Deployment {ns}/{name}"
    try:
        patch = {"metadata": {"annotations": {MONITORING_ANNOTATION: level}}}  # null removes it
        changed = kube.merge_patch(_object_path(plural, ns, name), patch)
    except ApiError as exc:
        raise MonitorError(f"{what}: not found" if exc.status == 404 else f"{what}: {exc}") from exc
    if plural == "namespaces":
        return levels_of([changed], [])
    namespace = kube.get(_object_path("namespaces", ns, ns)) or {}
    return [i for i in levels_of([namespace], [changed]) if i["kind"] == "Deployment"]


def _cluster_list(kube: Any, ns: str | None) -> list[dict[str, Any]]:
    if ns:
        found = kube.get(_object_path("namespaces", ns, ns))
        namespaces = [found] if found else []
        deployments = kube.items(f"/apis/apps/v1/namespaces/{quote(ns)}/deployments")
    else:
        namespaces, deployments = kube.items("/api/v1/namespaces"), kube.items("/apis/apps/v1/deployments")
    return levels_of(namespaces, deployments)


def cluster_run(
    args: argparse.Namespace, target: tuple[str, str, str] | None, level: str | None
) -> list[dict[str, Any]]:
    """List (``target`` None) or patch, through the kubeconfig's cluster as kubectl would."""
    from smi.cluster.kube import KubeClient, KubeError

    try:
        kube = KubeClient.connect(kubeconfig=args.kubeconfig, context=args.context)
    except KubeError as exc:
        raise MonitorError(str(exc)) from exc
    try:
        if target is not None:
            return _cluster_set(kube, target, level)
        return _cluster_list(kube, None if args.all_namespaces else args.namespace)
    except KubeError as exc:
        raise MonitorError(str(exc)) from exc
    finally:
        kube.close()


# -- output ------------------------------------------------------------------------------------


def table(items: list[dict[str, Any]]) -> str:
    rows = [("NAMESPACE", "KIND", "NAME", "LEVEL", "SET BY")]
    for i in items:
        ns = i["name"] if i["kind"] == "Namespace" else i["namespace"]
        source = "smi monitor (overlay)" if i.get("overlay") else i["source"]
        rows.append((ns, i["kind"], i["name"], i["level"], source))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    cluster = bool(args.kubeconfig or args.context)
    try:
        if args.target is None:
            if args.level or args.clear:
                raise MonitorError("--level/--clear need a target: ns/NAME or deploy/NAME")
            items = cluster_run(args, None, None) if cluster else local_list(args)
        else:
            if not (args.level or args.clear):
                raise MonitorError("say what to set: --level off|golden|routes, or --clear")
            target = parse_target(args.target, args.namespace)
            level = None if args.clear else args.level
            items = cluster_run(args, target, level) if cluster else [local_set(args, *target, level)]
    except MonitorError as exc:
        print(f"smi monitor: {exc}", file=sys.stderr)
        return 1
    for i in items:
        if i.get("problem"):
            print(f"warning: {i['problem']}", file=sys.stderr)
    print(json.dumps(items, indent=2) if args.output == "json" else table(items))
    return 0
