"""``InboundLimits``: the destination side's rate limits (RateLimitPolicy), per inbound port.

Built from ``InboundConfig.rate_limits``; each policy has one ``LocalRateLimiter`` (its
buckets are shared by the ports it covers).  A request must pass every policy that covers
its port.  429 answers carry ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from proxy.resilience.clocks import MONOTONIC, Clock
from proxy.resilience.ratelimits import LocalRateLimiter, RateLimitSpec
from smi.proxyconfig.resilience import InboundRateLimit


class InboundLimits:
    __slots__ = ("_all_ports", "_by_port", "_request_limiters", "limiters")

    def __init__(self, limits: Sequence[InboundRateLimit], *, clock: Clock = MONOTONIC) -> None:
        self.limiters: dict[str, tuple[InboundRateLimit, LocalRateLimiter]] = {}
        for limit in limits:
            spec = RateLimitSpec(
                total=float(limit.total_rps),
                identity=float(limit.identity_rps),
                overrides=MappingProxyType({who: float(rps) for who, rps in limit.overrides}),
                connections_per_second=float(limit.connections_per_second),
            )
            self.limiters[limit.policy] = (limit, LocalRateLimiter(spec, clock=clock))
        self._all_ports = tuple(lim for cfg, lim in self.limiters.values() if not cfg.ports)
        self._by_port: dict[int, tuple[LocalRateLimiter, ...]] = {}
        for cfg, lim in self.limiters.values():
            for port in cfg.ports:
                self._by_port[port] = (*self._by_port.get(port, ()), lim)
        self._request_limiters: dict[int, tuple[LocalRateLimiter, ...]] = {}

    @classmethod
    def build(cls, limits: Sequence[InboundRateLimit]) -> InboundLimits | None:
        return cls(limits) if limits else None

    def _for(self, port: int) -> tuple[LocalRateLimiter, ...]:
        extra = self._by_port.get(port)
        return self._all_ports + extra if extra else self._all_ports

    def _requests_for(self, port: int) -> tuple[LocalRateLimiter, ...]:
        found = self._request_limiters.get(port)
        if found is None:
            found = tuple(lim for lim in self._for(port) if lim.spec.limits_requests)
            if len(self._request_limiters) < 1024:
                self._request_limiters[port] = found
        return found

    def check_request(self, port: int, identity: str) -> int | None:
        """None: admitted.  Otherwise the Retry-After seconds of a 429."""
        for limiter in self._requests_for(port):
            wait = limiter.check_request(identity)
            if wait is not None:
                return wait
        return None

    def check_connection(self, port: int) -> bool:
        return all(lim.check_connection() for lim in self._for(port))

    def carry_from(self, old: InboundLimits) -> None:
        for policy, (cfg, _limiter) in list(self.limiters.items()):
            before = old.limiters.get(policy)
            if before is not None and before[0] == cfg:
                self.limiters[policy] = before
        self._all_ports = tuple(lim for cfg, lim in self.limiters.values() if not cfg.ports)
        self._by_port = {}
        for cfg, lim in self.limiters.values():
            for port in cfg.ports:
                self._by_port[port] = (*self._by_port.get(port, ()), lim)
        self._request_limiters = {}

    @property
    def limited(self) -> int:
        return sum(lim.limited for _, lim in self.limiters.values())


__all__ = ["InboundLimits"]
