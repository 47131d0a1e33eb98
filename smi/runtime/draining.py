"""Stopping a pod without losing a request: callers first, then the sidecar, then the app.

What Kubernetes users rely on, in the local runtime's terms:

1. the pod leaves the store (done by the caller of ``callers_caught_up``), so it is no longer
   an endpoint in any compiled config;
2. ``callers_caught_up`` waits, with a bound, until that change is queued on every config
   stream and every other running sidecar reports (``/ready``: ``config version N``) the
   version it was issued: no caller picks this pod for a new request any more;
3. the sidecar gets SIGTERM and drains within its grace period (stops accepting, finishes
   in-flight requests; see ``DRAIN_GRACE``), and only after it exited do the app's containers
   get SIGTERM (``PodRunner.stop``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from smi.distribution import ConfigService
from smi.distribution.identity import ProxyId
from smi.runtime.podrunning import PodRunner

CALLERS_WAIT = 5.0  # seconds at most for every caller to have the config without the stopping pod
DRAIN_GRACE = 10.0  # seconds the sidecar has to drain after SIGTERM before it is killed
POLL = 0.02

_VERSION = re.compile(rb"config version (\d+)")


async def _sidecar_version(runner: PodRunner) -> int | None:
    if runner.pod.pod_ip is None:
        return None
    status, body = await runner.admin_get("/ready", limit=0.5)  # in its network namespace, when it has one
    found = _VERSION.search(body) if status == 200 else None
    return int(found.group(1)) if found else None


async def _caught_up(config: ConfigService, runner: PodRunner, loop_deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < loop_deadline and runner.ready and not runner.stopped:
        issued = config.publisher.issued(ProxyId(*runner.key))
        if issued is None:
            return
        active = await _sidecar_version(runner)
        if active is None or active >= issued[0]:
            return
        await asyncio.sleep(POLL)  # polling the sidecar's admin port, bounded by the deadline


async def callers_caught_up(
    config: ConfigService, others: Iterable[PodRunner], *, within: float = CALLERS_WAIT
) -> bool:
    """Wait until every other running sidecar has the store's current config (False: timed out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    if not await config.publisher.wait_published(config.store.snapshot().version, within=within):
        return False
    callers = [r for r in others if r.ready and not r.stopped]
    await asyncio.gather(*(_caught_up(config, r, deadline) for r in callers))
    return loop.time() < deadline
