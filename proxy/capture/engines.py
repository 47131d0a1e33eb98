"""The three things capture (``proxy.capture``) and UDP (``proxy.udp``) take from the HTTP/TCP engines.

One seam, so the engines can change without touching capture:

    http_protocol(router, pool, limits, gate)       the HTTP server protocol for one connection
    h2_protocol(hub, router, gate)                  the HTTP/2 server protocol (h2c prior knowledge)
    http1_or_upgrade(hub, router, pool, limits,     an HTTP/1.x connection: ``Upgrade: h2c`` is answered 101 and
                     gate, timeout)                 served by the HTTP/2 engine, anything else by the HTTP engine
    route_connection(holder, port, metrics, bind)  split + balance one connection to a service port
    splice(target, pool, gate, opaque)              opaque TCP to a target (mTLS to a meshed endpoint);
                                                    ``opaque``: detected on a detect port (the peer is told)

``gate`` is the outbound listener's ``ConnectionGate``: a captured connection counts against the
listener's cap and is drained on SIGTERM like any other.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from proxy.admission import ConnectionGate
from proxy.compiled import PortRoute
from proxy.holder import ConfigHolder
from proxy.httpshell import HttpServerProtocol
from proxy.limits import HttpLimits
from proxy.metrics import Metrics
from proxy.outbound import target_for
from proxy.targets import LocalReply, Router, Target
from proxy.tcp import TcpSplice
from proxy.upstream import UpstreamPool

if TYPE_CHECKING:
    from proxy.http2.listeners import Http2Hub


def http_protocol(
    router: Router, pool: UpstreamPool, limits: HttpLimits, gate: ConnectionGate | None = None
) -> asyncio.Protocol:
    return HttpServerProtocol(router=router, pool=pool, limits=limits, gate=gate)


def h2_protocol(
    hub: Http2Hub, router: Router, gate: ConnectionGate | None = None, *, app_h2: bool = True
) -> asyncio.Protocol:
    """HTTP/2 from the app (h2c prior knowledge): its streams go to peer sidecars as HTTP/2.

    ``app_h2``: an endpoint without a sidecar speaks HTTP/2 (h2c); False (an ``http`` port)
    converts each stream to HTTP/1.1 for it.
    """
    return hub.server(router, app_h2=lambda: app_h2, gate=gate)


def http1_or_upgrade(
    hub: Http2Hub, router: Router, pool: UpstreamPool, limits: HttpLimits, gate: ConnectionGate | None,
    timeout: float, *, app_h2: bool = True,
) -> asyncio.Protocol:  # fmt: skip
    """An HTTP/1.x connection to a mesh service, handled as the outbound listener handles one.

    ``proxy.http2.listeners.Detecting`` (the same hand-over as on the outbound, ``--forward`` and
    inbound listeners): a bodiless request head with ``Upgrade: h2c`` and ``HTTP2-Settings`` is
    answered ``101 Switching Protocols`` and becomes stream 1 of an HTTP/2 connection; any other
    request goes to the HTTP engine.  ``timeout`` bounds the wait for an incomplete head;
    ``app_h2`` as for ``h2_protocol``.
    """
    from proxy.http2.listeners import Detecting

    return Detecting(
        http1=lambda: http_protocol(router, pool, limits, gate),
        http2=lambda: hub.server(router, app_h2=lambda: app_h2, gate=gate),
        timeout=timeout,
    )


def route_connection(
    holder: ConfigHolder, port: PortRoute, *, metrics: Metrics, bind_address: str
) -> Target | LocalReply | None:
    """None when there is no config."""
    runtime = holder.runtime
    if runtime is None:
        return None
    return target_for(runtime, port, None, metrics=metrics, bind_address=bind_address)


def splice(
    target: Target, pool: UpstreamPool, gate: ConnectionGate | None = None, *, opaque: bool = False
) -> asyncio.Protocol:
    return TcpSplice(target, pool, gate=gate, opaque=opaque)
