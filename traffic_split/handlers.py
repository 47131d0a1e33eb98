"""Thin kopf handlers for TrafficSplit (split.smi-spec.io; the watched version is set in ``smi.controllers.kinds``).

They only parse, validate and feed the store (see ``smi.controllers.registering``); the
split semantics live in ``traffic_split.compile``.
"""

from __future__ import annotations

from collections.abc import Callable

import kopf

from smi.controllers.bridging import LoopBridge
from smi.controllers.feeding import Feed
from smi.controllers.kinds import SPLIT, Watched
from smi.controllers.registering import register_all

KINDS: tuple[Watched, ...] = SPLIT


def register(registry: kopf.OperatorRegistry, *, feed: Feed, on_synced: Callable[[], None], bridge: LoopBridge) -> None:
    register_all(registry, feed=feed, kinds=KINDS, on_synced=on_synced, bridge=bridge)
