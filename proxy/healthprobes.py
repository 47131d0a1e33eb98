"""The I/O side of active health checks: probes endpoints when ``HealthChecker.due()`` says so.

One task per proxy (``Proxy.start``).  Every tick it asks each destination guard of the
current config version with a ``healthCheck`` which endpoints are due, probes each one in
its own task bounded by the check's timeout, and reports the result; the decision (healthy
or not, when to probe next) is ``proxy.resilience.health``'s.

* ``http``: ``GET <path>`` with ``Connection: close``; a 2xx status line is healthy.  Sent to
  endpoints reached directly (not meshed); a meshed endpoint is checked by a TCP connect to
  its sidecar (an HTTP probe through it would need the mesh identity, and the sidecar
  answers for the app anyway).
* ``tcp``: the connection is made.

Probes go from the proxy's bind address when it has one (like requests), at most
``_MAX_PROBES`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from proxy.holder import ConfigHolder
from proxy.resilience.health import CHECK_HTTP, HealthChecker
from smi.proxyconfig import Endpoint

logger = logging.getLogger(__name__)

TICK: Final = 0.1  # seconds between looks at what is due (probes are per the checks' intervals)
_MAX_PROBES: Final = 64


async def probe(endpoint: Endpoint, *, kind: str, path: str, within: float, bind: str = "") -> bool:
    """One probe; True when the endpoint passed."""
    meshed = bool(endpoint.proxy_port)
    port = endpoint.proxy_port or endpoint.port
    local = (bind, 0) if bind else None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(endpoint.address, port, local_addr=local)
            try:
                if kind != CHECK_HTTP or meshed:
                    return True
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {endpoint.address}\r\nConnection: close\r\n\r\n".encode())
                line = await reader.readline()
                parts = line.split(b" ", 2)
                return len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1][:1] == b"2"
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError, ValueError):
        return False


class HealthProber:
    """Runs the probes of the current config version's health checks (see the module docstring)."""

    def __init__(self, holder: ConfigHolder, *, bind: str = "") -> None:
        self.holder = holder
        self.bind = bind
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            while True:
                self.tick()
                await asyncio.sleep(TICK)
        finally:
            for task in self._running:
                task.cancel()

    def tick(self) -> None:
        runtime = self.holder.runtime
        if runtime is None:
            return
        for guard in runtime.guards:
            checker = guard.health
            if checker is None:
                continue
            for endpoint in checker.due():
                if len(self._running) >= _MAX_PROBES:
                    checker.report(endpoint, ok=True)  # not probed this round: no change of state
                    continue
                task = asyncio.get_running_loop().create_task(self._one(checker, endpoint))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _one(self, checker: HealthChecker[Endpoint], endpoint: Endpoint) -> None:
        spec = checker.spec
        ok = await probe(endpoint, kind=spec.kind, path=spec.path, within=spec.timeout, bind=self.bind)
        was = checker.is_healthy(endpoint)
        checker.report(endpoint, ok=ok)
        if checker.is_healthy(endpoint) != was:
            state = "healthy" if ok else "unhealthy"
            logger.info("health check: %s:%d is %s", endpoint.address, endpoint.port, state)


__all__ = ["HealthProber", "probe"]
