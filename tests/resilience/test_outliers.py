"""Outlier detection: consecutive failures eject, penalties grow, one probe brings back."""

from __future__ import annotations

from proxy.resilience.clocks import ManualClock
from proxy.resilience.outliers import OutlierDetector, OutlierSpec, key_pairs
from proxy.resilience.selecting import choose, usable


def _detector(n: int, clock: ManualClock, **spec: object) -> tuple[list[str], OutlierDetector[str]]:
    endpoints = [f"10.0.0.{i}" for i in range(n)]
    return endpoints, OutlierDetector(endpoints, OutlierSpec(**spec), clock=clock, uniform=lambda: 0.0)  # type: ignore[arg-type]


def test_seven_consecutive_failures_eject() -> None:
    clock = ManualClock()
    eps, det = _detector(2, clock)
    for _ in range(6):
        det.record(eps[0], ok=False)
    det.record(eps[0], ok=True)  # a success resets the count
    for _ in range(6):
        det.record(eps[0], ok=False)
    assert not det.is_ejected(eps[0])
    det.record(eps[0], ok=False)
    assert det.is_ejected(eps[0])
    assert not det.allows(eps[0])
    assert det.allows(eps[1])


def test_penalty_grows_from_one_second_to_a_minute_and_one_probe_brings_back() -> None:
    clock = ManualClock()
    eps, det = _detector(2, clock)
    for _ in range(7):
        det.record(eps[0], ok=False)
    penalties = []
    for _ in range(8):
        waited = 0.0
        while not det.allows(eps[0]):
            clock.advance(0.5)
            waited += 0.5
            assert waited <= 120
        penalties.append(waited)
        assert not det.allows(eps[0])  # only one probe at a time
        det.record(eps[0], ok=False)  # the probe fails: ejected again, longer
    assert penalties[:7] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert penalties[7] == 60.0
    while not det.allows(eps[0]):
        clock.advance(1.0)
    det.record(eps[0], ok=True)
    assert not det.is_ejected(eps[0])
    assert not det.any_ejected


def test_jitter_lengthens_the_penalty_by_a_share() -> None:
    clock = ManualClock()
    det = OutlierDetector(["a", "b"], OutlierSpec(jitter=0.5), clock=clock, uniform=lambda: 1.0)
    for _ in range(7):
        det.record("a", ok=False)
    clock.advance(1.4)
    assert not det.allows("a")
    clock.advance(0.2)
    assert det.allows("a")


def test_at_most_a_share_is_ejected() -> None:
    clock = ManualClock()
    eps, det = _detector(4, clock, max_ejection_percent=50)
    for ep in eps:
        for _ in range(7):
            det.record(ep, ok=False)
    assert det.ejected_count == 2


def test_never_the_last_one() -> None:
    """A single endpoint may be marked, but the choice still returns it when nothing else is left."""
    clock = ManualClock()
    eps, det = _detector(1, clock)
    for _ in range(7):
        det.record(eps[0], ok=False)
    assert det.is_ejected(eps[0])
    assert not usable(eps, det, None)
    assert choose(lambda: eps[0], 1, det, None) == eps[0]


def test_choice_skips_ejected_endpoints() -> None:
    clock = ManualClock()
    eps, det = _detector(3, clock)
    for _ in range(7):
        det.record(eps[1], ok=False)
    order = iter(eps * 10)
    picks = [choose(lambda: next(order), 3, det, None) for _ in range(6)]
    assert eps[1] not in picks
    assert usable(eps, det, None)


def test_state_survives_a_config_swap() -> None:
    clock = ManualClock()
    old_eps, old = _detector(2, clock)
    for _ in range(7):
        old.record(old_eps[0], ok=False)
    new_eps = [str(ep) + "" for ep in ["10.0.0.0", "10.0.0.1", "10.0.0.9"]]
    new = OutlierDetector(new_eps, OutlierSpec(), clock=clock, uniform=lambda: 0.0)
    new.carry_from(old, key_pairs(new_eps, old_eps, key=str))
    assert new.is_ejected(new_eps[0])
    assert new.ejected_count == 1


def test_disabled_never_ejects() -> None:
    clock = ManualClock()
    eps, det = _detector(2, clock, enabled=False)
    for _ in range(50):
        det.record(eps[0], ok=False)
    assert not det.any_ejected
