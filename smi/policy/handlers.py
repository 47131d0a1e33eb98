"""Thin kopf handlers for the policy.smi-mesh.io kinds: parse, validate, feed the store."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import kopf

from smi.kubefeed.bridging import LoopBridge
from smi.kubefeed.feeding import Feed
from smi.kubefeed.registering import register_all
from smi.kubefeed.watched import watches
from smi.policy.group import KINDS


def register(
    registry: kopf.OperatorRegistry,
    *,
    feed: Feed,
    versions: Mapping[str, str],
    on_synced: Callable[[], None],
    bridge: LoopBridge,
) -> None:
    """Feed the store from every UpstreamTrafficPolicy and RateLimitPolicy."""
    register_all(registry, feed=feed, kinds=watches(KINDS, versions=versions), on_synced=on_synced, bridge=bridge)
