"""UDP through the mesh: sessions between sidecars inside mTLS, authorized by UDPRoute rules.

::

    framing    sans-IO: datagrams <-> a byte stream (2-byte length prefix)
    sessions   pure: sessions keyed by source (address, port), idle timeout, limits
    policy     pure: UDPRoute rules by verified identity (once per session)
    stats      smi_udp_* metrics per edge
    outbound   the app's side: a UDP listener per service port (``--udp-forward``), one stream per session
    inbound    the app's peer side: a framed stream -> a UDP flow to the app

Why datagrams ride a TLS stream (and not DTLS or QUIC): the sidecars already hold mTLS
identities, session resumption and an upstream connect that checks the peer's SPIFFE id;
one stream per session reuses all of it, the identity is verified once per session (as for
TCP), and no new dependency is needed.  The cost is head-of-line blocking and TCP's
retransmission inside one session: a lost segment delays later datagrams of that session
instead of losing one (docs/proxy.md, "UDP").

``inbound_udp(...)`` is the hook ``proxy.inbound`` calls for a ``udp`` port.
"""

from __future__ import annotations

import asyncio
import logging

from proxy.authz import Deny
from proxy.compiled import CompiledConfig
from proxy.metrics import Labels, Metrics
from proxy.udp.inbound import InboundUdpSession
from proxy.udp.policy import authorize_datagrams
from proxy.udp.sessions import UdpLimits
from proxy.udp.stats import udp_stats_for

logger = logging.getLogger(__name__)

__all__ = ["InboundUdpSession", "UdpLimits", "authorize_datagrams", "inbound_udp", "udp_stats_for"]


def inbound_udp(
    cc: CompiledConfig, *, identity: str, port: int, framed: bool, metrics: Metrics, labels: Labels, peer: str
) -> asyncio.Protocol | None:
    """The protocol for a stream to inbound ``udp`` port ``port``; None: refuse it (counted)."""
    stats = udp_stats_for(metrics)
    if not framed:  # only a peer sidecar (PROXY header) speaks the framing
        stats.edge(labels).drop("bad_frame")
        return None
    decision = authorize_datagrams(identity=identity, port=port, inbound=cc.inbound)
    if isinstance(decision, Deny):
        stats.edge(labels).drop("denied")
        metrics.edge(labels).denied += 1
        logger.info("inbound udp session from %s denied: %s", peer, decision.reason)
        return None
    edge = stats.edge((*labels[:8], decision.rule, *labels[9:]))
    return InboundUdpSession(app=(cc.inbound.app_address, port), edge=edge)
