"""The kubectl conventions every cluster verb shares: ``--kubeconfig``, ``--context``, ``-n``, ``-A``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smi.cluster.kube import KubeClient


def add_connection(parser: argparse.ArgumentParser, *, namespaced: bool = False, all_namespaces: bool = False) -> None:
    group = parser.add_argument_group("cluster (as kubectl)")
    group.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    group.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")
    if namespaced:
        group.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's namespace)")
    if all_namespaces:
        group.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def connect(args: argparse.Namespace, *, prog: str) -> KubeClient:
    """A client for the chosen context; exits with one line when there is none."""
    from smi.cluster.kube import KubeClient, KubeError

    try:
        client = KubeClient.connect(kubeconfig=args.kubeconfig, context=args.context)
    except KubeError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    if getattr(args, "namespace", None) is None and hasattr(args, "namespace"):
        args.namespace = client.namespace
    return client


def fail(prog: str, message: Any, code: int = 1) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return code
