"""Fault-injecting backends as real processes (``python -m smi.demo.flaky``), on loopback port 0."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

_LISTENING = re.compile(rb"listening on ([0-9.]+):([0-9]+)")


@dataclass
class FlakyProcess:
    host: str
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/fault/stats") as response:
            result: dict[str, Any] = json.loads(await response.text())
            return result

    async def configure(self, **faults: float) -> None:
        async with aiohttp.ClientSession() as session, session.put(f"{self.url}/fault/config", json=faults) as r:
            assert r.status == 200, await r.text()


@asynccontextmanager
async def flaky_process(host: str, *, seed: int = 11, **faults: float) -> AsyncIterator[FlakyProcess]:
    env = {**os.environ, "POD_IP": host, "PORT": "0", "FAULT_SEED": str(seed), "BOOKSTORE_VERSION": "v2"}
    for name, value in faults.items():
        env[f"FAULT_{name.upper()}"] = str(value)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smi.demo.flaky", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        found = _LISTENING.search(line)
        assert found, f"the flaky backend did not start: {line!r}"
        yield FlakyProcess(found.group(1).decode(), int(found.group(2)), process)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
