"""Active health checks: the state machine and the schedule, without the probing itself.

Optional per destination (``healthCheck`` in an UpstreamTrafficPolicy).  The sidecar's shell
asks :meth:`HealthChecker.due` which endpoints to probe now, probes each one (an HTTP GET of
``path`` expecting 2xx, or a TCP connect) bounded by ``timeout``, and reports each result to
:meth:`HealthChecker.report`.  ``unhealthy_threshold`` failures in a row take an endpoint out
of rotation; ``healthy_threshold`` successes in a row bring it back.

Endpoints start *healthy*: a config swap (a new pod, a policy edit) must not blackhole a
destination for one interval while the first probes run.  Unhealthy endpoints get no traffic
while any other endpoint is usable (the same "never leave a destination empty" rule as
outlier ejection, applied by the endpoint choice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from proxy.resilience.clocks import MONOTONIC, Clock

T = TypeVar("T")

CHECK_HTTP = "http"
CHECK_TCP = "tcp"


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckSpec:
    kind: str = CHECK_HTTP
    path: str = "/"
    interval: float = 10.0
    timeout: float = 1.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3

    def __post_init__(self) -> None:
        if self.kind not in (CHECK_HTTP, CHECK_TCP):
            raise ValueError(f"health check kind must be {CHECK_HTTP!r} or {CHECK_TCP!r}, got {self.kind!r}")
        if self.interval <= 0 or self.timeout <= 0 or self.healthy_threshold < 1 or self.unhealthy_threshold < 1:
            raise ValueError("interval > 0, timeout > 0 and thresholds >= 1 are required")


class _Health:
    __slots__ = ("healthy", "in_flight", "next_at", "streak")

    def __init__(self, next_at: float) -> None:
        self.healthy = True
        self.streak = 0  # results in a row that disagree with ``healthy``
        self.next_at = next_at
        self.in_flight = False


class HealthChecker(Generic[T]):
    """Health of a fixed list of endpoints and when each is due for a probe."""

    __slots__ = ("_clock", "_endpoints", "_states", "any_unhealthy", "spec", "transitions")

    def __init__(self, endpoints: Sequence[T], spec: HealthCheckSpec, *, clock: Clock = MONOTONIC) -> None:
        self.spec = spec
        self._clock = clock
        now = clock()
        self._endpoints = tuple(endpoints)
        self._states = {id(ep): _Health(now) for ep in self._endpoints}
        self.any_unhealthy = False
        self.transitions = 0

    def due(self) -> list[T]:
        """Endpoints to probe now; each is marked in flight until its result is reported."""
        now = self._clock()
        out: list[T] = []
        for ep in self._endpoints:
            state = self._states[id(ep)]
            if not state.in_flight and now >= state.next_at:
                state.in_flight = True
                out.append(ep)
        return out

    def next_due(self) -> float:
        """When the next probe is due (clock seconds), for the shell's timer."""
        waiting = [s.next_at for s in self._states.values() if not s.in_flight]
        return min(waiting) if waiting else self._clock() + self.spec.interval

    def report(self, endpoint: T, *, ok: bool) -> None:
        state = self._states.get(id(endpoint))
        if state is None:
            return
        state.in_flight = False
        state.next_at = self._clock() + self.spec.interval
        if ok == state.healthy:
            state.streak = 0
            return
        state.streak += 1
        threshold = self.spec.healthy_threshold if ok else self.spec.unhealthy_threshold
        if state.streak >= threshold:
            state.healthy = ok
            state.streak = 0
            self.transitions += 1
            self.any_unhealthy = any(not s.healthy for s in self._states.values())

    def carry_from(self, old: HealthChecker[T], pairs: Iterable[tuple[T, T]]) -> None:
        """Keep the health of endpoints that survive a config swap (``pairs``: (new, old) endpoint)."""
        for new_ep, old_ep in pairs:
            state = old._states.get(id(old_ep))
            if state is not None and id(new_ep) in self._states:
                state.in_flight = False  # a probe of the old version reports to the old checker
                self._states[id(new_ep)] = state
        self.any_unhealthy = any(not s.healthy for s in self._states.values())
        self.transitions = old.transitions

    def is_healthy(self, endpoint: T) -> bool:
        state = self._states.get(id(endpoint))
        return state is None or state.healthy
