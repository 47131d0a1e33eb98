"""``smi inject -f FILE|-``: manifests in, manifests whose pods ask for a sidecar out (like ``linkerd inject``).

Every pod template (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob; a
``kind: List`` is walked) gets the annotation ``smi-mesh.io/inject: enabled`` and the label
of the same name: the label makes the API server call the webhook for the pod even in a
namespace that is not in the mesh, the annotation is the per-pod switch the webhook reads.
Other objects pass through unchanged, in order.  ``--manual`` writes the sidecar, the init
container and the token volume into the templates instead (for a cluster without the
webhook; what the webhook would add, from the same code).

    kubectl get deploy web -o yaml | smi inject -f - | kubectl apply -f -
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import yaml

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("inject", help="add the mesh's injection annotation to the pods of manifests")
    parser.add_argument("-f", "--filename", required=True, metavar="FILE", help="a YAML/JSON file, or - for stdin")
    parser.add_argument("--manual", action="store_true", help="write the sidecar into the templates (no webhook)")
    parser.add_argument("--image", default=None, help="with --manual: the sidecar image")
    parser.set_defaults(func=main)


def _template(obj: dict[str, Any]) -> dict[str, Any] | None:
    path = TEMPLATE_PATHS.get(str(obj.get("kind")))
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def inject_object(obj: Any, *, manual: bool, settings: Any) -> tuple[Any, bool]:
    """The object with its pod template marked (or injected); whether it had one."""
    from smi.injection import ANNOTATION_INJECT, apply_patch, inject

    if not isinstance(obj, dict):
        return obj, False
    if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
        done = [inject_object(item, manual=manual, settings=settings) for item in obj["items"]]
        return {**obj, "items": [d[0] for d in done]}, any(d[1] for d in done)
    template = _template(obj)
    if template is None:
        return obj, False
    meta = template.setdefault("metadata", {}) or {}
    template["metadata"] = meta
    if str((meta.get("annotations") or {}).get(ANNOTATION_INJECT, "")).lower() in ("false", "disabled", "no", "off"):
        return obj, True  # the pod opted out: leave it so
    meta.setdefault("annotations", {})[ANNOTATION_INJECT] = "enabled"
    meta.setdefault("labels", {})[ANNOTATION_INJECT] = "enabled"
    if manual:
        injected = apply_patch(template, inject(template, settings=settings))
        template.clear()
        template.update(injected)
    return obj, True


def documents(text: str) -> Iterator[Any]:
    yield from (doc for doc in yaml.safe_load_all(text) if doc is not None)


def main(args: argparse.Namespace) -> int:
    from smi.injection import InjectionSettings, MalformedPod

    try:
        text = sys.stdin.read() if args.filename == "-" else open(args.filename, encoding="utf-8").read()  # noqa: SIM115
    except OSError as e:
        print(f"smi inject: {args.filename}: {e.strerror}", file=sys.stderr)
        return 1
    settings = InjectionSettings(**({"image": args.image} if args.image else {}))
    try:
        docs = list(documents(text))
    except yaml.YAMLError as e:
        print(f"smi inject: {args.filename}: not YAML: {e}", file=sys.stderr)
        return 1
    out, marked = [], 0
    for doc in docs:
        try:
            result, had = inject_object(doc, manual=args.manual, settings=settings)
        except (MalformedPod, ValueError) as e:
            print(f"smi inject: {args.filename}: {e}", file=sys.stderr)
            return 1
        out.append(result)
        marked += had
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))
    print(f"smi inject: {marked} of {len(out)} object(s) with pods marked for injection", file=sys.stderr)
    return 0
