"""Subscribers of one sidecar's tap: filter, per-second cap, bounded queue."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from proxy.tap.events import TapEvent
from proxy.tap.filters import TapFilter

DEFAULT_RATE = 100.0  # events per second per subscriber
MAX_RATE = 1000.0
QUEUE_LIMIT = 1000  # events waiting for a slow reader; older ones are dropped first


class Subscription:
    """One reader: events that pass its filter, at most ``rate`` per second on average."""

    __slots__ = ("_notify", "_stamp", "_tokens", "dropped", "ended", "filter", "limited", "queue", "rate")

    def __init__(self, tap_filter: TapFilter, rate: float, now: float, notify: Callable[[], None] | None) -> None:
        self.filter = tap_filter
        self.rate = min(max(rate, 1.0), MAX_RATE)
        self.queue: deque[TapEvent] = deque(maxlen=QUEUE_LIMIT)
        self.limited = 0  # over the per-second cap
        self.dropped = 0  # pushed out of a full queue by newer events
        self.ended = ""  # the monitoring level that turned tap off and so ended this subscription
        self._tokens = self.rate
        self._stamp = now
        self._notify = notify

    def offer(self, event: TapEvent, now: float) -> bool:
        if not self.filter.matches(event):
            return False
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1.0:
            self.limited += 1
            return False
        self._tokens -= 1.0
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append(event)
        if self._notify is not None:
            self._notify()
        return True

    def end(self, level: str) -> None:
        """No more events: tap went off at monitoring ``level``; the reader is woken to say so."""
        self.ended = level
        if self._notify is not None:
            self._notify()

    def take(self) -> list[TapEvent]:
        events = list(self.queue)
        self.queue.clear()
        return events


class TapHub:
    """The sidecar's one tap point; ``listening`` is what the hot path reads."""

    __slots__ = ("listening", "off", "published", "subscriptions")

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []
        self.listening = False
        self.published = 0
        self.off = ""  # non-empty: tap is off at this monitoring level (smi.proxyconfig.monitoring)

    def switch_off(self, level: str) -> None:
        """Tap is off from now on (at monitoring ``level``): every subscription ends, its reader told why."""
        self.off = level
        ended, self.subscriptions = self.subscriptions, []
        self.listening = False
        for subscription in ended:
            subscription.end(level)

    def switch_on(self) -> None:
        self.off = ""

    def subscribe(
        self, tap_filter: TapFilter, *, now: float, rate: float = DEFAULT_RATE, notify: Callable[[], None] | None = None
    ) -> Subscription:
        subscription = Subscription(tap_filter, rate, now, notify)
        if self.off:  # born ended: the reader is told why and nothing is ever published to it
            subscription.ended = self.off
            return subscription
        self.subscriptions = [*self.subscriptions, subscription]
        self.listening = True
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions = [s for s in self.subscriptions if s is not subscription]
        self.listening = bool(self.subscriptions)

    def publish(self, event: TapEvent, now: float) -> None:
        self.published += 1
        for subscription in self.subscriptions:
            subscription.offer(event, now)
