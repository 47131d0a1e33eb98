"""Which events a subscriber wants, from query parameters (``smi tap`` and the page send them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from proxy.tap.events import TapEvent

STATUS_CLASSES = frozenset({"1xx", "2xx", "3xx", "4xx", "5xx", "error"})
FILTER_KEYS = frozenset({"namespace", "workload", "path_prefix", "method", "status_class", "direction"})


class TapFilterError(ValueError):
    """A filter parameter that cannot be honoured; the message names it."""


@dataclass(frozen=True, slots=True)
class TapFilter:
    """Every set field must match; ``namespace``/``workload`` match either end of the request."""

    namespace: str = ""
    workload: str = ""
    path_prefix: str = ""
    method: str = ""
    status_class: str = ""
    direction: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TapFilter:
        unknown = sorted(set(query) - FILTER_KEYS - {"rate"})
        if unknown:
            raise TapFilterError(f"unknown tap filter {unknown[0]!r} (known: {', '.join(sorted(FILTER_KEYS))})")
        status_class = query.get("status_class", "").lower()
        if status_class and status_class not in STATUS_CLASSES:
            known = ", ".join(sorted(STATUS_CLASSES))
            raise TapFilterError(f"status_class: must be one of {known}, got {status_class!r}")
        direction = query.get("direction", "")
        if direction not in ("", "inbound", "outbound"):
            raise TapFilterError(f"direction: must be inbound or outbound, got {direction!r}")
        path_prefix = query.get("path_prefix", "")
        if path_prefix and not path_prefix.startswith("/"):
            raise TapFilterError(f"path_prefix: must start with '/', got {path_prefix!r}")
        return cls(
            namespace=query.get("namespace", ""),
            workload=query.get("workload", ""),
            path_prefix=path_prefix,
            method=query.get("method", "").upper(),
            status_class=status_class,
            direction=direction,
        )

    def matches(self, event: TapEvent) -> bool:
        return self.admits(
            event.direction, event.source_namespace, event.source_workload, event.destination_namespace,
            event.destination_workload, event.method, event.path, event.status,
        )  # fmt: skip

    def admits(
        self, direction: str, src_ns: str, src_wl: str, dst_ns: str, dst_wl: str, method: str, path: str, status: int
    ) -> bool:
        """``matches`` on the plain facts, before any event is built (the publisher asks first)."""
        if self.namespace and self.namespace not in (src_ns, dst_ns):
            return False
        if self.workload and self.workload not in (src_wl, dst_wl):
            return False
        if self.path_prefix and not path.startswith(self.path_prefix):
            return False
        if self.method and method != self.method:
            return False
        if self.status_class and (f"{status // 100}xx" if status else "error") != self.status_class:
            return False
        return not self.direction or direction == self.direction
