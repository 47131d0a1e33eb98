"""``smi install``, ``smi upgrade``, ``smi uninstall``: the control plane in a cluster.

::

    smi install [--dry-run [-o yaml|json] [--only secrets]] [--image IMAGE] [--replicas 2] ...
    smi upgrade [same options]          # re-apply over an existing install
    smi uninstall [--force]             # refuses while meshed pods run, unless --force

Everything applied is ``smi.cluster.rendering.render``; ``--dry-run`` prints it instead
(without touching the cluster: new CA Secrets are made for the output).  Applying is
get-compare-patch (``smi.cluster.applying``): a re-run reports every object ``unchanged``
and the CA Secrets ``kept``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from smi.cli._kubeflags import add_connection, connect, fail

PROG = "smi"


def _options_flags(parser: argparse.ArgumentParser) -> None:
    from smi.cluster.options import InstallOptions

    d = InstallOptions()
    parser.add_argument("--control-plane-namespace", default=d.namespace, metavar="NS",
                        help=f"where the control plane runs (default {d.namespace})")  # fmt: skip
    parser.add_argument("--image", default=d.image, help=f"image of the control plane and the sidecars ({d.image})")
    parser.add_argument("--image-pull-policy", default=d.image_pull_policy, choices=("Always", "IfNotPresent", "Never"))
    parser.add_argument("--replicas", type=int, default=d.replicas, help=f"controller replicas (default {d.replicas})")
    parser.add_argument("--trust-domain", default=d.trust_domain)
    parser.add_argument("--cert-lifetime", default=d.cert_lifetime, help="workload certificate lifetime (24h)")
    parser.add_argument("--webhook-cert-lifetime", default=d.webhook_cert_lifetime,
                        help="webhook serving certificate lifetime, re-issued at half (24h)")  # fmt: skip
    parser.add_argument("--lease-duration", type=int, default=d.lease_duration, help="leader Lease, seconds (15)")
    parser.add_argument("--drain-grace", type=int, default=d.drain_grace,
                        help="seconds an injected sidecar keeps serving after SIGTERM (10)")  # fmt: skip
    parser.add_argument("--exclude-outbound-cidrs", default="", metavar="CIDR,CIDR",
                        help="never captured in any pod (e.g. the API server's address)")  # fmt: skip


def register(subparsers: Any) -> None:
    for name, text in (("install", "install the control plane into the cluster (idempotent)"),
                       ("upgrade", "re-apply the control plane over an existing install"),
                       ("uninstall", "remove everything smi install made")):  # fmt: skip
        parser = subparsers.add_parser(name, help=text)
        add_connection(parser)
        _options_flags(parser)
        if name == "uninstall":
            parser.add_argument("--force", action="store_true", help="even while meshed pods run")
            parser.set_defaults(func=uninstall)
            continue
        parser.add_argument("--dry-run", action="store_true", help="print the objects instead of applying them")
        parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="with --dry-run")
        parser.add_argument("--only", choices=("secrets",), default=None,
                            help="only the namespace and the CA Secrets (for kubectl apply -k users)")  # fmt: skip
        parser.set_defaults(func=install, upgrade=name == "upgrade")


def options_from(args: argparse.Namespace) -> Any:
    from proxy.init import parse_cidrs
    from smi.cluster.options import InstallOptions

    cidrs = parse_cidrs(args.exclude_outbound_cidrs, what="--exclude-outbound-cidrs") if args.exclude_outbound_cidrs \
        else ()  # fmt: skip
    options = InstallOptions(
        namespace=args.control_plane_namespace, image=args.image, image_pull_policy=args.image_pull_policy,
        replicas=args.replicas, trust_domain=args.trust_domain, cert_lifetime=args.cert_lifetime,
        webhook_cert_lifetime=args.webhook_cert_lifetime, lease_duration=args.lease_duration,
        exclude_outbound_cidrs=cidrs, drain_grace=args.drain_grace,
    )  # fmt: skip
    problems = options.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return options


def existing_secrets(client: Any, options: Any) -> Any:
    """The CA Secrets the cluster already has; new ones for whichever is missing."""
    from smi.cluster.options import MESH_CA_SECRET, WEBHOOK_CA_SECRET
    from smi.cluster.rendering import Secrets, new_secrets
    from smi.cluster.resources import KINDS

    fresh = new_secrets(options)
    found = {}
    for name in (MESH_CA_SECRET, WEBHOOK_CA_SECRET):
        live = client.get(KINDS["Secret"].path(name, options.namespace))
        found[name] = (live or {}).get("data") or None
    return Secrets(
        mesh_ca=found[MESH_CA_SECRET] or fresh.mesh_ca, webhook_ca=found[WEBHOOK_CA_SECRET] or fresh.webhook_ca
    )


def _print(objects: list[dict[str, Any]], output: str) -> None:
    from smi.cluster.rendering import to_yaml

    if output == "json":
        json.dump({"apiVersion": "v1", "kind": "List", "items": objects}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(to_yaml(objects))


def install(args: argparse.Namespace) -> int:
    from smi.cluster.applying import apply_all
    from smi.cluster.kube import KubeError
    from smi.cluster.options import NAME
    from smi.cluster.rendering import new_secrets, render
    from smi.cluster.resources import KINDS

    verb = "upgrade" if args.upgrade else "install"
    try:
        options = options_from(args)
    except ValueError as e:
        return fail(f"smi {verb}", e, 2)
    if args.dry_run:
        _print(render(options, secrets=new_secrets(options), only=args.only), args.output)
        return 0
    client = connect(args, prog=f"smi {verb}")
    try:
        if args.upgrade and client.get(KINDS["Deployment"].path(NAME, options.namespace)) is None:
            return fail("smi upgrade", f"no control plane in namespace {options.namespace}: run smi install first")
        objects = render(options, secrets=existing_secrets(client, options), only=args.only)
        outcomes = apply_all(client, objects, report=lambda o: print(f"{o.what} {o.action}", flush=True))
    except KubeError as e:
        return fail(f"smi {verb}", e)
    changed = sum(o.action in ("created", "configured") for o in outcomes)
    print(f"smi {verb}: {changed} object(s) changed, {len(outcomes) - changed} already as rendered")
    return 0


def meshed_pods(client: Any, *, control_plane: str) -> list[str]:
    from smi.injection import ANNOTATION_INBOUND_PORT

    running = []
    for pod in client.items("/api/v1/pods"):
        meta = pod.get("metadata") or {}
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if ANNOTATION_INBOUND_PORT in (meta.get("annotations") or {}) and phase in ("Pending", "Running") \
                and meta.get("namespace") != control_plane:  # fmt: skip
            running.append(f"{meta.get('namespace')}/{meta.get('name')}")
    return sorted(running)


def uninstall(args: argparse.Namespace) -> int:
    from smi.cluster.applying import delete_all
    from smi.cluster.kube import KubeError
    from smi.cluster.rendering import Secrets, render, secrets_objects

    try:
        options = options_from(args)
    except ValueError as e:
        return fail("smi uninstall", e, 2)
    client = connect(args, prog="smi uninstall")
    try:
        pods = meshed_pods(client, control_plane=options.namespace)
        if pods and not args.force:
            shown = ", ".join(pods[:5]) + (f" and {len(pods) - 5} more" if len(pods) > 5 else "")
            return fail("smi uninstall", f"{len(pods)} meshed pod(s) still run ({shown}); they would lose their "
                        "control plane: delete them or remove their namespaces from the mesh, or --force")  # fmt: skip
        objects = render(options, secrets=None)
        empty = Secrets(mesh_ca={}, webhook_ca={})  # names only: nothing is rendered from them
        objects[1:1] = secrets_objects(options, empty)
        delete_all(client, objects, report=lambda o: print(f"{o.what} {o.action}", flush=True))
    except KubeError as e:
        return fail("smi uninstall", e)
    print("smi uninstall: done")
    return 0
