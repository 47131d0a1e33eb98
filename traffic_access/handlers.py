"""Thin kopf handlers for TrafficTarget (access.smi-spec.io v1alpha1..v1alpha3) and the traffic
specs they use: HTTPRouteGroup and TCPRoute (specs.smi-spec.io v1alpha1..v1alpha4), UDPRoute
(v1alpha4).

They only parse, validate and feed the store (see ``smi.controllers.registering``); the
access semantics live in ``traffic_access.compile``.
"""

from __future__ import annotations

from collections.abc import Callable

import kopf

from smi.controllers.bridging import LoopBridge
from smi.controllers.feeding import Feed
from smi.controllers.kinds import ACCESS, Watched
from smi.controllers.registering import register_all

KINDS: tuple[Watched, ...] = ACCESS


def register(registry: kopf.OperatorRegistry, *, feed: Feed, on_synced: Callable[[], None], bridge: LoopBridge) -> None:
    register_all(registry, feed=feed, kinds=KINDS, on_synced=on_synced, bridge=bridge)
