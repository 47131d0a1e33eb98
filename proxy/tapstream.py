"""``GET /tap?<filters>&rate=N`` on the admin listener: one subscription streamed as ndjson.

The answer is ``200`` with ``Content-Type: application/x-ndjson`` and no length (the body
ends when either side closes): one JSON object per line, a ``TapEvent`` (see
``proxy.tap.events``).  Events are written as they arrive, batched per loop turn; a client
that reads too slowly loses the oldest (the subscription's bounded queue), the proxy never
waits for it.  Closing the connection ends the subscription, and with the last one the hot
path is back to a single attribute read per request.

When the sidecar's monitoring level turns tap off (``smi.proxyconfig.monitoring``: any level
but ``routes``), the stream ends with one last line that is no event,
``{"end": "tap is off at monitoring level <level>", "monitoring": "<level>"}``, and the connection is closed; a
request made while tap is off gets that line alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from urllib.parse import parse_qsl

from proxy.tap import TapFilter, TapFilterError, TapHub
from proxy.tap.hub import DEFAULT_RATE, MAX_RATE, Subscription

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"


def parse_query(query: str) -> tuple[TapFilter, float]:
    """(filter, rate) from ``namespace=..&path_prefix=..&rate=N``; TapFilterError naming the parameter."""
    params: Mapping[str, str] = dict(parse_qsl(query, keep_blank_values=True))
    tap_filter = TapFilter.from_query(params)
    text = params.get("rate", "")
    try:
        rate = float(text) if text else DEFAULT_RATE
    except ValueError:
        raise TapFilterError(f"rate: must be a number of events per second, got {text!r}") from None
    if not 1 <= rate <= MAX_RATE:
        raise TapFilterError(f"rate: must be between 1 and {MAX_RATE:.0f} events per second, got {text!r}")
    return tap_filter, rate


def end_line(level: str) -> dict[str, str]:
    """The last line of a stream that tap being off (at monitoring ``level``) ended."""
    return {"end": f"tap is off at monitoring level {level} (tap needs level routes)", "monitoring": level}


class TapStream:
    """Writes one subscription's events to one admin connection until it closes."""

    def __init__(self, hub: TapHub, transport: asyncio.Transport, tap_filter: TapFilter, rate: float) -> None:
        self.hub = hub
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self._scheduled = False
        self.subscription: Subscription | None = hub.subscribe(
            tap_filter, now=self.loop.time(), rate=rate, notify=self._wake
        )
        transport.write(HEAD)
        if self.subscription.ended:
            self._flush()

    def _wake(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        subscription = self.subscription
        if subscription is None or self.transport.is_closing():
            return
        events = subscription.take()
        if events:
            self.transport.write(b"".join(json.dumps(e.as_json()).encode() + b"\n" for e in events))
        if subscription.ended:
            self.transport.write(json.dumps(end_line(subscription.ended)).encode() + b"\n")
            self.subscription = None
            self.transport.close()

    def close(self) -> None:
        if self.subscription is not None:
            self.hub.unsubscribe(self.subscription)
            self.subscription = None
