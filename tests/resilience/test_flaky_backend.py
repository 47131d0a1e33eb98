"""The fault-injecting backend does what its settings say, in-process and as a process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

import aiohttp

from smi.demo.flaky import FaultServer
from tests.proxy.harness import wait_until

Make = Callable[..., Awaitable[tuple[FaultServer, int]]]


async def test_error_share_and_counters(flaky: Make) -> None:
    server, port = await flaky(error_share=0.2)
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(500):
            async with session.get(f"http://127.0.0.31:{port}/books") as response:
                statuses.append(response.status)
                await response.read()
        async with session.get(f"http://127.0.0.31:{port}/fault/stats") as response:
            stats = json.loads(await response.text())
    errors = statuses.count(503)
    assert stats["requests"] == 500 and stats["errors"] == errors and stats["ok"] == statuses.count(200)
    assert 50 <= errors <= 150  # 20% of 500, seeded
    assert server.stats.errors == errors


async def test_resets_and_hangs_and_live_config(flaky: Make) -> None:
    server, port = await flaky(reset_share=1.0)
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(f"http://127.0.0.31:{port}/books") as response:
                await response.read()
            raise AssertionError("expected a reset")
        except aiohttp.ClientError:
            pass
        async with session.put(
            f"http://127.0.0.31:{port}/fault/config", json={"reset_share": 0.0, "hang_share": 1.0}
        ) as response:
            assert response.status == 200
        hanging = asyncio.ensure_future(session.get(f"http://127.0.0.31:{port}/books"))
        await wait_until(lambda: server.stats.hangs == 1, what="the hang")
        assert server.stats.in_flight == 1
        hanging.cancel()
        await wait_until(lambda: server.stats.in_flight == 0, what="the hang to end when the client leaves")
        async with session.put(f"http://127.0.0.31:{port}/fault/config", json={"nonsense": 1}) as response:
            assert response.status == 400
    assert server.stats.resets >= 1  # aiohttp itself may retry a reset once


def test_runs_as_a_process_and_says_why_it_cannot_start() -> None:
    env = {**os.environ, "POD_IP": "127.0.0.1", "PORT": "1", "FAULT_ERROR_SHARE": "x"}
    bad = subprocess.run([sys.executable, "-m", "smi.demo.flaky"], env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "FAULT_" in bad.stderr and "Traceback" not in bad.stderr
