"""From a finished exchange's plain facts to a TapEvent on the hub (called only while someone listens).

The protocol cores call ``publish`` behind ``if stats.tap.listening:`` so a sidecar no one
taps builds nothing.  The edge's metric labels (``smi.proxyconfig.metricnames.EDGE_LABELS``)
give both ends; on the inbound side the ``route`` label holds the TrafficTarget that allowed
the request, so it is the event's ``rule``.  ``tls`` is what the labels prove: an inbound
request from a verified peer identity, an outbound one to a destination identity (the
sidecar originates mutual TLS to it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from proxy.tap.events import TapEvent
from proxy.tap.hub import TapHub


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def publish(
    hub: TapHub,
    labels: Sequence[str],
    *,
    now: float,
    method: bytes | str | None,
    authority: bytes | str | None,
    path: bytes | str | None,
    status: int,
    seconds: float,
    request_bytes: int = 0,
    response_bytes: int = 0,
    denied: bool = False,
    error: str = "",
) -> None:
    if len(labels) < 10:
        return  # not an HTTP edge (a TCP flow's stats): nothing to tell
    direction, src_ns, src_wl, src_id, dst_ns, dst_svc, dst_wl, dst_id, route, backend = labels[:10]
    raw_path = _text(path).split("?", 1)[0]
    verb = _text(method)
    if not any(
        s.filter.admits(direction, src_ns, src_wl, dst_ns, dst_wl, verb, raw_path, status) for s in hub.subscriptions
    ):
        return  # no subscriber wants it: no event is built
    inbound = direction == "inbound"
    rule = "denied" if denied else (route if inbound else "")
    hub.publish(
        TapEvent(
            time=time.time(),
            direction=direction,
            source_namespace=src_ns,
            source_workload=src_wl,
            source_identity=src_id,
            destination_namespace=dst_ns,
            destination_service=dst_svc,
            destination_workload=dst_wl,
            destination_identity=dst_id,
            method=verb,
            authority=_text(authority),
            path=raw_path,
            status=status,
            latency_ms=round(seconds * 1000.0, 3),
            request_bytes=request_bytes,
            response_bytes=response_bytes,
            tls=bool(src_id) if inbound else bool(dst_id),
            backend=backend,
            route="" if inbound else route,
            rule=rule,
            error=error,
        ),
        now,
    )
