"""Thin kopf handlers for TrafficSplit (split.smi-spec.io), at the version the controller chose.

They only parse, validate and feed the store (``smi.kubefeed.registering``); the split
semantics live in ``traffic_split.compile``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import kopf

from smi.kubefeed.bridging import LoopBridge
from smi.kubefeed.feeding import Feed
from smi.kubefeed.registering import register_all
from smi.kubefeed.watched import watches
from traffic_split.group import KINDS


def register(
    registry: kopf.OperatorRegistry,
    *,
    feed: Feed,
    versions: Mapping[str, str],
    on_synced: Callable[[], None],
    bridge: LoopBridge,
) -> None:
    """Feed the store from every TrafficSplit, watched at ``versions[kind]`` (default: the newest)."""
    register_all(registry, feed=feed, kinds=watches(KINDS, versions=versions), on_synced=on_synced, bridge=bridge)
