"""What a routing decision hands to the forwarding engines: an upstream to use, or a local reply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from proxy.headers import RequestHead
from proxy.metrics import EdgeStats
from smi.proxyconfig import Endpoint

if TYPE_CHECKING:
    from proxy.resilience.guard import DestinationGuard

PoolKey = tuple[str, int, int, str]  # (address, connect port, PROXY-announced port or 0, bind address or "")


class Feedback(Protocol):
    def done(self, item: Endpoint, *, seconds: float, ok: bool) -> None: ...


@dataclass(slots=True)
class Target:
    """One upstream for one request or connection.

    ``announce_port`` != 0: the upstream is a peer sidecar at ``address:port`` and the
    connection starts with a PROXY v2 header naming ``address:announce_port``.

    Never changed after it is built: routers cache one per (decision, endpoint) and hand
    the same object to every request that goes there.  ``feedback`` is set only when the
    picker learns from outcomes.
    """

    address: str
    port: int
    announce_port: int
    bind: str
    connect_timeout: float
    request_timeout: float
    stats: EdgeStats
    endpoint: Endpoint | None = None
    feedback: Feedback | None = None
    decision: object = None  # the router's own note of where this came from (for picking another endpoint)
    guard: DestinationGuard | None = None  # the destination's resilience state (outbound only)
    # "<namespace>/<workload>" of the calling node, claimed to a peer sidecar in the PROXY header (proxy.proxyproto)
    workload_claim: str = ""
    key: PoolKey = field(init=False)  # the upstream pool's key, computed once

    def __post_init__(self) -> None:
        self.key = (self.address, self.port, self.announce_port, self.bind)


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A response the proxy writes itself (``error`` is the metrics reason, if it is a failure)."""

    status: int
    text: str
    stats: EdgeStats
    error: str = ""
    denied: bool = False
    headers: bytes = b""  # extra response header lines, each ending in CRLF (e.g. ``x-smi-denied-by``)


class Router(Protocol):
    """Per-connection policy of the HTTP engine: where each request goes."""

    def decide(self, head: RequestHead, authority: bytes | None) -> Target | LocalReply: ...

    def fallback_stats(self) -> EdgeStats:
        """The edge to count failures on before a request could be routed (e.g. a malformed head)."""
        ...

    def another(self, head: RequestHead, failed: Target, avoid: tuple[Target, ...]) -> Target | None:
        """A target for another attempt of the request that went to ``failed`` (for a retry policy):
        another endpoint of the same destination, avoiding ``avoid`` when it can; None when there is none."""
        ...
