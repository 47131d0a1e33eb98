"""Thin kopf handlers for TrafficTarget (access.smi-spec.io) and the traffic specs it uses:
HTTPRouteGroup, TCPRoute and UDPRoute (specs.smi-spec.io).  One version of each kind is
watched (the storage version by default, see ``smi.controllers.kinds``); the API server
converts objects written in any other served version.

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
