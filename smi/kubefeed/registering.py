"""The one shape every thin kopf handler has, registered per watched resource.

For each resource two handlers are registered on the operator's registry:

* an *index* handler (``@kopf.index``): kopf calls it for every object of the initial
  listing and for every creation and change, before any other handler, and it holds all
  other handlers until every watched kind's listing has been indexed.  It feeds the store
  (``Feed.accept``); an invalid object is reported with a Kubernetes Event (``kopf.warn``)
  and a log line and skipped.  This covers create, update and resume.
* an *event* handler (``@kopf.on.event``): a deletion removes the object from the store
  (no finalizers needed).  Because kopf runs it only once the whole initial listing is
  indexed, its first call is the "synced" signal (``on_synced``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import kopf

from smi.kubefeed.bridging import LoopBridge
from smi.kubefeed.feeding import Feed
from smi.kubefeed.watched import Watched

EVENT_REASON_INVALID = "InvalidObject"


def register_feed(
    registry: kopf.OperatorRegistry,
    *,
    feed: Feed,
    where: Watched,
    on_synced: Callable[[], None],
    bridge: LoopBridge,
) -> None:
    """Register the pair; ``feed`` and ``on_synced`` run on ``bridge``'s loop (kopf has its own)."""
    ident = f"{where.plural}.{where.version}.{where.group or 'core'}"

    def index_handler(body: kopf.Body, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
        raw = dict(body)  # a plain copy: the body is read on the other loop's thread
        rejection = bridge.call(lambda: feed.accept(raw, where=where))
        if rejection is not None:
            text = rejection.message
            logger.warning("Ignoring invalid %s: %s", where.kind, text)
            kopf.warn(body, reason=EVENT_REASON_INVALID, message=text[:1000])

    def event_handler(type: str | None, body: kopf.Body, **_: Any) -> None:
        bridge.call(on_synced)
        if type == "DELETED":
            raw = dict(body)
            bridge.call(lambda: feed.remove(raw, where=where))

    resource = (where.group, where.version, where.plural)
    kopf.index(*resource, id=f"feed-{ident}", registry=registry)(index_handler)
    kopf.on.event(*resource, id=f"watch-{ident}", registry=registry)(event_handler)


def register_all(
    registry: kopf.OperatorRegistry,
    *,
    feed: Feed,
    kinds: tuple[Watched, ...],
    on_synced: Callable[[], None],
    bridge: LoopBridge,
) -> None:
    for where in kinds:
        register_feed(registry, feed=feed, where=where, on_synced=on_synced, bridge=bridge)
