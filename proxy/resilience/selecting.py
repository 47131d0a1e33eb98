"""The endpoint choice with outlier ejection and health checks: skip what is out of rotation.

:func:`choose` wraps a picker (round-robin, EWMA): it asks for the next endpoint and, while
the endpoint is ejected or unhealthy, asks again, at most once per endpoint.  When every
endpoint is out of rotation it returns the picker's first answer anyway: ejection and health
never leave a destination without an endpoint ("never the last one"; a TrafficSplit asks
:func:`usable` first and gives such a backend's share to the others).

When nothing is ejected or unhealthy (the normal case) the cost is two attribute tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from proxy.resilience.health import HealthChecker
from proxy.resilience.outliers import OutlierDetector

T = TypeVar("T")


def choose(
    pick: Callable[[], T | None],
    count: int,
    outliers: OutlierDetector[T] | None,
    health: HealthChecker[T] | None,
) -> T | None:
    """The next endpoint from ``pick`` that is in rotation (see the module docstring)."""
    first = pick()
    if first is None:
        return None
    ejecting = outliers is not None and outliers.any_ejected
    checking = health is not None and health.any_unhealthy
    if not ejecting and not checking:
        return first
    endpoint: T | None = first
    for _ in range(count):
        if endpoint is None:
            break
        if (not checking or health is None or health.is_healthy(endpoint)) and (
            not ejecting or outliers is None or outliers.allows(endpoint)
        ):
            return endpoint
        endpoint = pick()
    return first


def usable(endpoints: Sequence[T], outliers: OutlierDetector[T] | None, health: HealthChecker[T] | None) -> bool:
    """Is any endpoint in rotation?  (Does not take a probe slot.)"""
    if not endpoints:
        return False
    if (outliers is None or not outliers.any_ejected) and (health is None or not health.any_unhealthy):
        return True
    for endpoint in endpoints:
        if health is not None and not health.is_healthy(endpoint):
            continue
        if outliers is not None and outliers.is_ejected(endpoint):
            continue
        return True
    return False
