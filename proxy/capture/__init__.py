"""Original-destination capture on the outbound listener, and egress (issue 14).

With proxy-init's iptables rules every outbound TCP connection of the app lands on the
outbound listener.  This package decides, per connection, what it was meant for::

    acceptor   CaptureAcceptor: SO_ORIGINAL_DST + first bytes -> HTTP engine, opaque TCP over
               mTLS to a mesh service, 403/close for a denied one, or egress to the original destination
    egress     pure: the mesh-wide EgressPolicy (allow all, or deny + allow-list of hosts/CIDRs/ports)
    names      pure: the HTTP Host / TLS SNI a connection asks for (for host rules)
    stats      smi_egress_* metrics per destination
    engines    the seam to the HTTP/TCP engines (the only module to adapt when they change)

``capture_outbound(...)`` is the one hook ``proxy.running`` calls (it hands over what capture
needs by name, so this package never imports the proxy's composition root).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from proxy.admission import ConnectionGate
from proxy.capture.acceptor import CaptureAcceptor, CaptureContext, capture_factory
from proxy.capture.egress import EgressMatcher, parse_policy
from proxy.capture.stats import EgressStats
from proxy.exposition import Registry
from proxy.holder import ConfigHolder
from proxy.limits import HttpLimits
from proxy.metrics import Metrics
from proxy.sniff import DETECT_TIMEOUT
from proxy.upstream import UpstreamPool

if TYPE_CHECKING:
    from proxy.http2.listeners import Http2Hub

__all__ = ["CaptureAcceptor", "CaptureContext", "EgressMatcher", "EgressStats", "capture_outbound", "parse_policy"]


def capture_outbound(
    http: Callable[[], asyncio.Protocol], *, holder: ConfigHolder, metrics: Metrics, pool: UpstreamPool,
    registry: Registry, bind_address: str, limits: HttpLimits, gate: ConnectionGate | None,
    http2: Http2Hub | None = None, detect_timeout: float = DETECT_TIMEOUT,
) -> Callable[[], asyncio.Protocol]:  # fmt: skip
    """The outbound listener's protocol factory with capture in front of ``http`` (today's factory)."""
    stats = EgressStats()
    registry.register(stats)
    context = CaptureContext(
        holder=holder, metrics=metrics, pool=pool, http=http, egress=stats,
        bind_address=bind_address, limits=limits, gate=gate, http2=http2, detect_timeout=detect_timeout,
    )  # fmt: skip
    return capture_factory(context)
