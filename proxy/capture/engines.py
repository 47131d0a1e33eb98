"""The three things capture (``proxy.capture``) and UDP (``proxy.udp``) take from the HTTP/TCP engines.

One seam, so the engines can be refactored (arch-proxy's sans-IO HTTP core replaces
``proxy.http1.HttpForwarder`` with ``proxy.http.shell.HttpServerProtocol`` and routes with a
``ConfigRuntime`` from ``holder.runtime``) by changing these three functions only:

    http_protocol(router, pool, limits)            the HTTP server protocol for one connection
    route_connection(holder, port, metrics, bind)  split + balance one connection to a service port
    splice(target, pool)                           opaque TCP to a target (mTLS to a meshed endpoint)
"""

from __future__ import annotations

import asyncio

from proxy.compiled import PortRoute
from proxy.holder import ConfigHolder
from proxy.http1 import HttpForwarder
from proxy.limits import HttpLimits
from proxy.metrics import Metrics
from proxy.outbound import target_for
from proxy.targets import LocalReply, Router, Target
from proxy.tcp import TcpSplice
from proxy.upstream import UpstreamPool


def http_protocol(router: Router, pool: UpstreamPool, limits: HttpLimits) -> asyncio.Protocol:
    return HttpForwarder(router=router, pool=pool, limits=limits)


def route_connection(
    holder: ConfigHolder, port: PortRoute, *, metrics: Metrics, bind_address: str
) -> Target | LocalReply | None:
    """None when there is no config."""
    cc = holder.current
    if cc is None:
        return None
    return target_for(cc, port, None, metrics=metrics, bind_address=bind_address)


def splice(target: Target, pool: UpstreamPool) -> asyncio.Protocol:
    return TcpSplice(target, pool)
