"""``ConfigRuntime``: the mutable state that goes with one compiled config version.

A ``CompiledConfig`` (``proxy.compiled``) is immutable: lookup tables only.  Everything that
changes while requests flow lives here, made afresh for each config version and swapped
with it (``ConfigHolder.swap``): the split pickers (smooth weighted round-robin scores), the
endpoint pickers (round-robin positions, EWMA latencies and in-flight counts), and the
caches the routers fill on the hot path (authority -> port route, (decision, endpoint) ->
``Target``, (caller, port) -> candidate access rules, inbound rule -> ``Target``).  A
request keeps the runtime it started with, so a swap never mixes two versions' state.

Upstream connections are not here: they belong to destination endpoints, not to a config
version, and stay pooled across versions (``proxy.upstream.UpstreamPool``); the runtime
only answers which identity the current config expects at an endpoint
(``expected_identity``), so the pool drops a connection whose peer no longer fits.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from proxy.balancing import EwmaLeastLoaded, RoundRobin, SmoothWeightedRoundRobin
from proxy.compiled import Backend, ClusterState, CompiledConfig, CompiledSplit, Picker, PortRoute
from proxy.resilience.guard import DestinationGuard
from proxy.resilience.inbound import InboundLimits
from proxy.targets import PoolKey, Target

K = TypeVar("K")
V = TypeVar("V")

_MAX_CACHE: Final = 4096  # entries of a cache keyed by what clients send (authorities, callers)


class ConfigRuntime:
    """Pickers and caches for one ``CompiledConfig``; see the module docstring."""

    __slots__ = (
        "_expected",
        "authorities",
        "by_caller",
        "compiled",
        "guards",
        "inbound_targets",
        "pickers",
        "rate_limits",
        "split_pickers",
        "targets",
    )

    def __init__(self, compiled: CompiledConfig, *, previous: ConfigRuntime | None = None) -> None:
        self.compiled = compiled
        # indexed by ClusterState.slot and CompiledSplit.slot (numbered by the compile)
        self.pickers: list[Picker] = [_picker(state) for state in compiled.cluster_slots]
        self.split_pickers: list[SmoothWeightedRoundRobin[Backend]] = [
            SmoothWeightedRoundRobin(split.backends) for split in compiled.split_slots
        ]
        self.authorities: dict[bytes, PortRoute] = {}  # filled by the outbound router (bounded)
        self.targets: dict[tuple[int, int, str], Target] = {}  # (id(decision), id(endpoint), bind) -> Target
        # (port, caller identity, rule, caller workload, mTLS, timeouts) -> Target
        self.inbound_targets: dict[tuple[int, str, str, str, bool, float, float], Target] = {}
        self.by_caller: dict[tuple[str, int], Any] = {}  # authz candidates, filled by ``proxy.authz`` (bounded)
        self._expected: dict[tuple[str, int], str] | None = None
        # resilience (proxy.resilience): one guard per cluster slot, rate limiters per inbound policy
        self.guards: list[DestinationGuard] = [
            DestinationGuard(state.cluster.name, state.cluster.endpoints, state.cluster.resilience)
            for state in compiled.cluster_slots
        ]
        self.rate_limits: InboundLimits | None = InboundLimits.build(compiled.config.inbound.rate_limits)
        if previous is not None:
            self._carry(previous)

    def _carry(self, previous: ConfigRuntime) -> None:
        """Resilience state of destinations that stay (ejections, budgets, in-flight counts, tokens)."""
        old = {g.name: g for g in previous.guards}
        for guard in self.guards:
            before = old.get(guard.name)
            if before is not None:
                guard.carry_from(before)
        if self.rate_limits is not None and previous.rate_limits is not None:
            self.rate_limits.carry_from(previous.rate_limits)

    def guard(self, state: ClusterState) -> DestinationGuard:
        return self.guards[state.slot]

    def picker(self, state: ClusterState) -> Picker:
        return self.pickers[state.slot]

    def feedback(self, state: ClusterState) -> Picker | None:
        """The picker when it learns from outcomes (EWMA), else None (the engine skips the call)."""
        return self.pickers[state.slot] if state.learns else None

    def split_picker(self, split: CompiledSplit) -> SmoothWeightedRoundRobin[Backend]:
        return self.split_pickers[split.slot]

    def expected_identity(self, key: PoolKey) -> str | None:
        """The identity the config expects at a peer sidecar's (address, proxy port), if any."""
        if self._expected is None:
            self._expected = {
                (e.address, e.proxy_port): e.identity
                for c in self.compiled.config.outbound.clusters
                for e in c.endpoints
                if e.proxy_port and e.identity
            }
        return self._expected.get((key[0], key[1]))


def bounded_put(cache: dict[K, V], key: K, value: V) -> None:
    """Store in a cache keyed by client input: cleared when it reaches its bound."""
    if len(cache) >= _MAX_CACHE:
        cache.clear()
    cache[key] = value


def _picker(state: ClusterState) -> Picker:
    endpoints = list(state.cluster.endpoints)
    return EwmaLeastLoaded(endpoints) if state.learns else RoundRobin(endpoints)


__all__ = ["ConfigRuntime", "bounded_put"]
