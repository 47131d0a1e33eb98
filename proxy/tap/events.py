"""One request as tap shows it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TapEvent:
    """A finished request (or a refused one) as its sidecar saw it.

    ``rule`` names what decided access ("TrafficTarget ns/name", "default-deny", "permissive");
    ``backend`` is the TrafficSplit backend the request went to, "" without a split.
    """

    time: float
    direction: str  # "outbound" (the caller's sidecar) or "inbound" (the destination's)
    source_namespace: str
    source_workload: str
    source_identity: str
    destination_namespace: str
    destination_service: str
    destination_workload: str
    destination_identity: str
    method: str
    authority: str
    path: str
    status: int  # 0 when no response was given (reset, timeout before headers)
    latency_ms: float
    request_bytes: int
    response_bytes: int
    tls: bool
    backend: str = ""
    route: str = ""
    rule: str = ""
    error: str = ""

    @property
    def status_class(self) -> str:
        return f"{self.status // 100}xx" if self.status else "error"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["status_class"] = self.status_class
        return out
