"""Thin kopf handlers for TrafficTarget (access.smi-spec.io) and the traffic specs it uses:
HTTPRouteGroup, TCPRoute and UDPRoute (specs.smi-spec.io), each at the version the
controller chose (the API server converts objects written in any other served version).

They only parse, validate and feed the store (``smi.kubefeed.registering``); the access
semantics live in ``traffic_access.compile``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import kopf

from smi.kubefeed.bridging import LoopBridge
from smi.kubefeed.feeding import Feed
from smi.kubefeed.registering import register_all
from smi.kubefeed.watched import watches
from traffic_access.group import KINDS


def register(
    registry: kopf.OperatorRegistry,
    *,
    feed: Feed,
    versions: Mapping[str, str],
    on_synced: Callable[[], None],
    bridge: LoopBridge,
) -> None:
    """Feed the store from every object of the access and specs kinds, at ``versions[kind]``."""
    register_all(registry, feed=feed, kinds=watches(KINDS, versions=versions), on_synced=on_synced, bridge=bridge)
