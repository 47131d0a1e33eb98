"""What a routing decision hands to the forwarding engines: an upstream to use, or a local reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from proxy.headers import RequestHead
from proxy.metrics import EdgeStats
from smi.proxyconfig import Endpoint

PoolKey = tuple[str, int, int, str]  # (address, connect port, PROXY-announced port or 0, bind address or "")


class Feedback(Protocol):
    def done(self, item: Endpoint, *, seconds: float, ok: bool) -> None: ...


@dataclass(slots=True)
class Target:
    """One upstream for one request or connection.

    ``announce_port`` != 0: the upstream is a peer sidecar at ``address:port`` and the
    connection starts with a PROXY v2 header naming ``address:announce_port``.
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

    @property
    def key(self) -> PoolKey:
        return (self.address, self.port, self.announce_port, self.bind)


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A response the proxy writes itself (``error`` is the metrics reason, if it is a failure)."""

    status: int
    text: str
    stats: EdgeStats
    error: str = ""
    denied: bool = False


class Router(Protocol):
    """Per-connection policy of the HTTP engine: where each request goes."""

    def decide(self, head: RequestHead, authority: bytes | None) -> Target | LocalReply: ...

    def fallback_stats(self) -> EdgeStats:
        """The edge to count failures on before a request could be routed (e.g. a malformed head)."""
        ...
