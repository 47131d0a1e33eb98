"""Tap: a live stream of request events from a sidecar, costing nothing while no one listens.

The hot path asks one question per finished request, ``if hub.listening:``, a plain attribute
read, and builds an event only when it is true.  Each subscriber has its own filter, its own
cap (events per second, a token bucket on an injected clock) and a bounded queue: a slow
reader loses events (counted in ``dropped``), it never slows the proxy or grows its memory.

Everything here is sans-IO; the admin listener streams a subscription's events as
newline-delimited JSON (``GET /tap`` on the admin port, see docs/proxy.md).
"""

from proxy.tap.events import TapEvent
from proxy.tap.filters import TapFilter, TapFilterError
from proxy.tap.hub import Subscription, TapHub

__all__ = ["Subscription", "TapEvent", "TapFilter", "TapFilterError", "TapHub"]
