"""Passive outlier detection for the endpoints of one destination (on by default).

Linkerd's failure accrual with Envoy's ejection cap:

* ``consecutive_failures`` (7) failed responses in a row (a 5xx, a connect failure or a
  reset; the caller decides what failed) eject the endpoint;
* the ejection lasts a penalty that starts at ``base_ejection`` (1 s), doubles with every
  ejection in a row up to ``max_ejection`` (60 s), plus up to ``jitter`` (a share) of it;
* when the penalty is over, exactly one request is let through as a probe: success brings the
  endpoint back (and resets the penalty), failure ejects it again for a longer one;
* at most ``max_ejection_percent`` of the endpoints are ejected at once (at least one may be);
* never the last one: the detector only *marks*; :class:`~proxy.resilience.selecting` (the
  endpoint choice) skips marked endpoints while any other is usable, and uses them anyway
  when nothing else is left, so ejection alone never leaves a destination without endpoints.

The per-request cost when nothing is ejected is one attribute test (``any_ejected``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from proxy.resilience.clocks import MONOTONIC, RANDOM, Clock, Uniform

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlierSpec:
    enabled: bool = True
    consecutive_failures: int = 7
    base_ejection: float = 1.0
    max_ejection: float = 60.0
    max_ejection_percent: int = 50
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1 or self.base_ejection <= 0 or self.max_ejection < self.base_ejection:
            raise ValueError("consecutive_failures >= 1 and 0 < base_ejection <= max_ejection are required")
        if not 0 <= self.max_ejection_percent <= 100 or not 0 <= self.jitter <= 1:
            raise ValueError("max_ejection_percent in 0..100 and jitter in 0..1 are required")


class _State:
    __slots__ = ("ejected_until", "ejections", "failures", "probe_since")

    def __init__(self) -> None:
        self.failures = 0
        self.ejections = 0  # ejections in a row (the penalty's exponent); reset by a good probe
        self.ejected_until = 0.0  # 0: in rotation
        self.probe_since = 0.0  # 0: no probe in flight


class OutlierDetector(Generic[T]):
    """Failure counts and ejections of a fixed list of endpoints (one config's)."""

    __slots__ = ("_clock", "_ejected", "_limit", "_spec", "_states", "_uniform", "any_ejected", "ejections_total")

    def __init__(
        self,
        endpoints: Sequence[T],
        spec: OutlierSpec = OutlierSpec(),
        *,
        clock: Clock = MONOTONIC,
        uniform: Uniform = RANDOM,
    ) -> None:
        self._spec = spec
        self._clock = clock
        self._uniform = uniform
        self._states: dict[int, _State] = {id(ep): _State() for ep in endpoints}
        self._limit = max(1, len(endpoints) * spec.max_ejection_percent // 100) if spec.max_ejection_percent else 0
        self._ejected = 0
        self.any_ejected = False
        self.ejections_total = 0

    @property
    def spec(self) -> OutlierSpec:
        return self._spec

    def allows(self, endpoint: T) -> bool:
        """May a request go to ``endpoint`` now?  An endpoint whose penalty is over admits one probe."""
        if not self.any_ejected:
            return True
        state = self._states.get(id(endpoint))
        if state is None or not state.ejected_until:
            return True
        now = self._clock()
        if now < state.ejected_until:
            return False
        if state.probe_since and now - state.probe_since < self._spec.max_ejection:
            return False  # a probe is in flight (a lost probe is replaced after max_ejection)
        state.probe_since = now
        return True

    def record(self, endpoint: T, *, ok: bool) -> None:
        """The outcome of a request (or attempt) sent to ``endpoint``."""
        state = self._states.get(id(endpoint))
        if state is None or not self._spec.enabled:
            return
        if ok:
            state.failures = 0
            if state.ejected_until:
                self._restore(state)
            return
        state.failures += 1
        if state.ejected_until:
            if state.probe_since:  # the probe failed: a longer penalty
                self._eject(state, again=True)
            return
        if state.failures >= self._spec.consecutive_failures and self._ejected < self._limit:
            self._eject(state, again=False)

    def is_ejected(self, endpoint: T) -> bool:
        state = self._states.get(id(endpoint))
        return state is not None and bool(state.ejected_until)

    @property
    def ejected_count(self) -> int:
        return self._ejected

    def carry_from(self, old: OutlierDetector[T], pairs: Iterable[tuple[T, T]]) -> None:
        """Keep the state of endpoints that survive a config swap (``pairs``: (new, old) endpoint)."""
        for new_ep, old_ep in pairs:
            old_state = old._states.get(id(old_ep))
            if old_state is not None and id(new_ep) in self._states:
                self._states[id(new_ep)] = old_state
        self._ejected = sum(1 for s in self._states.values() if s.ejected_until)
        self.any_ejected = self._ejected > 0
        self.ejections_total = old.ejections_total

    def _eject(self, state: _State, *, again: bool) -> None:
        spec = self._spec
        penalty = min(spec.max_ejection, spec.base_ejection * 2 ** min(state.ejections, 30))
        penalty = min(spec.max_ejection, penalty * (1.0 + spec.jitter * self._uniform()))
        if not again:
            self._ejected += 1
        state.ejections += 1
        state.ejected_until = self._clock() + penalty
        state.probe_since = 0.0
        state.failures = 0
        self.any_ejected = True
        self.ejections_total += 1

    def _restore(self, state: _State) -> None:
        state.ejected_until = 0.0
        state.probe_since = 0.0
        state.ejections = 0
        self._ejected -= 1
        self.any_ejected = self._ejected > 0


def key_pairs(new: Sequence[T], old: Sequence[T], key: Callable[[T], Hashable]) -> list[tuple[T, T]]:
    """(new, old) endpoint pairs with the same key, for :meth:`OutlierDetector.carry_from`."""
    by_key = {key(ep): ep for ep in old}
    return [(ep, by_key[key(ep)]) for ep in new if key(ep) in by_key]
