"""Applying rendered objects idempotently (get, compare, merge-patch) and removing them.

An object is *unchanged* when everything the installer renders is already there (the API
server's defaults and other controllers' additions are extra fields, not differences); it
is *configured* with a JSON merge patch of the whole rendered object otherwise (lists are
replaced whole, which is what the rendering means), and *created* when missing.  Objects
annotated ``smi-mesh.io/create-only`` (the CA Secrets) are created once and never
updated: re-running ``smi install`` keeps the trust the mesh already has.

Server-side apply would do the same with field ownership, but it is not available on
every API server this must run against (kmock's emulator in CI does not implement it);
get-compare-patch is what both understand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smi.cluster.kube import ApiError, KubeClient
from smi.cluster.options import CREATE_ONLY
from smi.cluster.resources import describe, kind_of, path_of


@dataclass(frozen=True, slots=True)
class Outcome:
    what: str  # "Deployment smi-system/smi-controller"
    action: str  # created | configured | unchanged | kept | deleted | absent


def contains(live: Any, desired: Any) -> bool:
    """Whether ``live`` already holds everything ``desired`` says."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(k in live and contains(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(live) == len(desired) and all(map(contains, live, desired))
    return bool(live == desired)


def _create_only(obj: Mapping[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(CREATE_ONLY) == "true"


def apply_one(client: KubeClient, obj: Mapping[str, Any]) -> Outcome:
    what = describe(obj)
    path = path_of(obj)
    live = client.get(path)
    if live is None:
        meta = obj.get("metadata") or {}
        client.create(kind_of(obj).collection(meta.get("namespace")), obj)
        return Outcome(what, "created")
    if _create_only(obj):
        return Outcome(what, "kept")
    desired = {k: v for k, v in obj.items() if k != "status"}
    if contains(live, desired):
        return Outcome(what, "unchanged")
    client.merge_patch(path, desired)
    return Outcome(what, "configured")


def apply_all(
    client: KubeClient, objects: Iterable[Mapping[str, Any]], *, report: Callable[[Outcome], None] = lambda _: None
) -> list[Outcome]:
    outcomes = []
    for obj in objects:
        outcome = apply_one(client, obj)
        report(outcome)
        outcomes.append(outcome)
    return outcomes


def delete_all(
    client: KubeClient, objects: Iterable[Mapping[str, Any]], *, report: Callable[[Outcome], None] = lambda _: None
) -> list[Outcome]:
    """Delete in reverse apply order (the webhook configuration first, the namespace last)."""
    outcomes = []
    for obj in reversed(list(objects)):
        try:
            gone = client.delete(path_of(obj))
        except ApiError as e:
            if e.status != 404:
                raise
            gone = False
        outcome = Outcome(describe(obj), "deleted" if gone else "absent")
        report(outcome)
        outcomes.append(outcome)
    return outcomes
