"""Original-destination capture on the outbound listener, and egress (issue 14).

With proxy-init's iptables rules every outbound TCP connection of the app lands on the
outbound listener.  This package decides, per connection, what it was meant for::

    acceptor   CaptureAcceptor: SO_ORIGINAL_DST + first bytes -> HTTP engine, opaque TCP over
               mTLS to a mesh service, 403/close for a denied one, or egress to the original destination
    egress     pure: the mesh-wide EgressPolicy (allow all, or deny + allow-list of hosts/CIDRs/ports)
    names      pure: the HTTP Host / TLS SNI a connection asks for (for host rules)
    stats      smi_egress_* metrics per destination
    engines    the seam to the HTTP/TCP engines (the only module to adapt when they change)

``capture_outbound(proxy, http_factory)`` is the one hook ``proxy.running`` calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from proxy.capture.acceptor import CaptureAcceptor, CaptureContext, capture_factory
from proxy.capture.egress import EgressMatcher, parse_policy
from proxy.capture.stats import EgressStats

if TYPE_CHECKING:
    from proxy.running import Proxy

__all__ = ["CaptureAcceptor", "CaptureContext", "EgressMatcher", "EgressStats", "capture_outbound", "parse_policy"]


def capture_outbound(proxy: Proxy, http: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
    """The outbound listener's protocol factory with capture in front of ``http`` (today's factory)."""
    stats = EgressStats()
    proxy.registry.register(stats)
    s = proxy.settings
    context = CaptureContext(
        holder=proxy.holder, metrics=proxy.metrics, pool=proxy.pool, http=http, egress=stats,
        bind_address=s.bind_address, limits=s.http_limits,
    )  # fmt: skip
    return capture_factory(context)
