"""``smi namespace add|remove NS``: put a namespace's new pods into the mesh, or take them out.

``add`` labels the namespace ``smi-mesh.io/monitored-by=smi-mesh``: the API server calls
the injection webhook for its new pods and, if the webhook cannot answer, refuses them
(fail closed); ``--optional`` also sets ``smi-mesh.io/injection=optional`` (pods start
without a sidecar while the webhook is down).  ``remove`` deletes both labels.  Running
pods change only when they are re-created (``kubectl rollout restart deploy -n NS``).
"""

from __future__ import annotations

import argparse
from typing import Any

from smi.cli._kubeflags import add_connection, connect, fail


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("namespace", help="add a namespace to the mesh, or remove it")
    sub = parser.add_subparsers(dest="action", metavar="add|remove", required=True)
    for action, text in (("add", "label NS so its new pods get a sidecar"), ("remove", "remove the mesh labels")):
        p = sub.add_parser(action, help=text)
        p.add_argument("name", metavar="NS")
        add_connection(p)
        if action == "add":
            p.add_argument("--optional", action="store_true",
                           help="fail open: pods start without a sidecar while the webhook is down")  # fmt: skip
        p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from smi.cluster.kube import ApiError, KubeError
    from smi.cluster.options import INJECTION_LABEL, OPTIONAL
    from smi.injection import NAMESPACE_LABEL

    prog = f"smi namespace {args.action}"
    client = connect(args, prog=prog)
    path = f"/api/v1/namespaces/{args.name}"
    if args.action == "add":
        labels: dict[str, Any] = {NAMESPACE_LABEL: "smi-mesh", INJECTION_LABEL: OPTIONAL if args.optional else None}
    else:
        labels = {NAMESPACE_LABEL: None, INJECTION_LABEL: None}
    try:
        if client.get(path) is None:
            return fail(prog, f"namespace {args.name!r} not found")
        client.merge_patch(path, {"metadata": {"labels": labels}})
    except (ApiError, KubeError) as e:
        return fail(prog, e)
    if args.action == "add":
        mode = "fail open (--optional)" if args.optional else "fail closed"
        print(f"namespace/{args.name} is in the mesh ({mode}): new pods get a sidecar; "
              f"re-create running ones: kubectl rollout restart deploy -n {args.name}")  # fmt: skip
    else:
        print(f"namespace/{args.name} left the mesh: new pods get no sidecar; "
              f"re-create running ones: kubectl rollout restart deploy -n {args.name}")  # fmt: skip
    return 0
