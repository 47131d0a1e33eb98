"""What a scenario needs from a mesh: the ``MeshDriver`` protocol and the values it returns.

A scenario never talks to ``smi up`` or ``kubectl`` itself.  It applies and deletes
manifests, waits for Deployments, and asks a *workload in the mesh* (the ``tool`` app,
``conformance.apps.tool``) to make a request, so that what it observes is what an app in
that pod would observe: the answer of the destination app, or the mesh's refusal.

Three drivers implement it: ``conformance.drivers.local.LocalDriver``,
``conformance.drivers.kube.KubeDriver`` and ``conformance.drivers.standin.StandInDriver``
(the stand-in cluster of ``tests/cluster/``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Workload:
    """A Deployment running the tool app: who makes a request."""

    namespace: str
    deployment: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.deployment}"


@dataclass(frozen=True)
class Reply:
    """What a workload saw for one HTTP request.

    ``status`` 0 means no HTTP answer (refused, reset, timed out), explained by ``error``.
    ``server`` is the workload name of the conformance server that answered, or ``None``
    when the answer came from the mesh (a sidecar's 403/404/503) or from nothing.
    """

    status: int
    body: str
    error: str | None = None

    @property
    def server(self) -> str | None:
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return None
        name = parsed.get("server") if isinstance(parsed, dict) else None
        return name if isinstance(name, str) else None

    @property
    def served(self) -> bool:
        """Answered 200 by the destination app."""
        return self.status == 200 and self.server is not None

    @property
    def denied(self) -> bool:
        """Refused by the mesh: a 403 made by a sidecar (the caller's for a service no
        TrafficTarget lets it reach, the destination's for a route it may not use)."""
        return self.server is None and self.status == 403

    @property
    def denial(self) -> str:
        """How the request was refused, for the record ("403 Forbidden: ...", "refused: ...")."""
        if self.status == 0:
            return f"no answer: {self.error}"
        return f"{self.status} {self.body.strip()[:120]}"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Reply:
        return cls(status=int(raw["status"]), body=str(raw.get("body") or ""), error=raw.get("error"))


class MeshDriver(Protocol):
    """The mesh under test, as the scenarios see it."""

    name: str
    timeout: float
    """How long a convergence wait may take on this mesh (seconds)."""

    def create_namespace(self, namespace: str) -> None:
        """A fresh namespace whose pods join the mesh."""

    def delete_namespace(self, namespace: str) -> None:
        """Remove the namespace and everything in it (best effort, never raises)."""

    def apply(self, manifests: str) -> None:
        """Create or update the objects of a multi-document YAML text."""

    def delete(self, manifests: str) -> None:
        """Delete the objects named in a multi-document YAML text (missing ones are fine)."""

    def wait_ready(self, namespace: str, deployments: Sequence[str]) -> None:
        """Until every named Deployment has a ready pod (with its sidecar)."""

    def request(
        self,
        source: Workload,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> list[Reply]:
        """``count`` HTTP requests made by ``source`` (through its sidecar), in order."""

    def tcp_exchange(self, source: Workload, service: str, payload: str, *, port_name: str = "") -> str | None:
        """One line to a TCP service from ``source``; the line back, or ``None`` if refused."""

    def close(self) -> None:
        """Stop everything the driver started."""
