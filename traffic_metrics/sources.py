"""Where the numbers come from: the interface every source answers, and its failure."""

from __future__ import annotations

from typing import Protocol

from traffic_metrics.query import WindowData


class SourceUnavailable(Exception):
    """The source cannot answer now (Prometheus down, no scrape yet); the message says why."""


class Source(Protocol):
    name: str

    async def window(self, seconds: float) -> WindowData:
        """Every reporting sidecar's edge vectors over the last ``seconds``."""
        ...
