"""Fixtures of the resilience tests: the fault-injecting backend, on uvloop like the sidecar."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from smi.demo.flaky import Faults, FaultServer
from tests.proxy.harness import event_loop_policy

__all__ = ["event_loop_policy", "flaky"]


@pytest.fixture
async def flaky() -> AsyncIterator[Callable[..., Awaitable[tuple[FaultServer, int]]]]:
    """Start fault servers on 127.0.0.x:0; each call returns (server, port)."""
    started: list[FaultServer] = []

    async def make(host: str = "127.0.0.31", *, seed: int = 7, **faults: float) -> tuple[FaultServer, int]:
        server = FaultServer(Faults(**faults), seed=seed)  # type: ignore[arg-type]
        _, port = await server.start(host, 0)
        started.append(server)
        return server, port

    yield make
    for server in started:
        await server.stop()
