"""``smi proxy`` as a real process: CLI flags, admin endpoints, and >10 MB bodies streamed
both ways while the proxy's peak memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from smi.proxyconfig import encode
from tests.proxy.harness import client_config, cluster, ep, service, wait_until

MB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
async def proxy_process(backends, tmp_path):
    web = await backends("web")
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(web)),))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(encode(cfg)))
    outbound, admin = _free_port(), _free_port()
    cmd = [
        sys.executable, "-m", "smi.cli.main", "proxy", "--config-file", str(path),
        "--outbound", f"127.0.0.1:{outbound}", "--inbound", "127.0.0.1:0", "--admin", f"127.0.0.1:{admin}",
    ]  # fmt: skip
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        async with aiohttp.ClientSession() as s:

            async def ready() -> bool:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                try:
                    async with s.get(f"http://127.0.0.1:{admin}/ready") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(ready, what="smi proxy ready")
        yield proc, f"http://127.0.0.1:{outbound}", f"http://127.0.0.1:{admin}"
    finally:
        proc.terminate()
        proc.wait(10)


async def test_large_bodies_stream_both_ways_with_bounded_memory(proxy_process):
    proc, outbound, admin = proxy_process
    size = 48 * MB
    async with aiohttp.ClientSession() as s:
        async with s.get("http://web/big?n=65536", proxy=outbound) as r:
            await r.read()
        before = _peak_rss(proc.pid)

        async def upload():
            block = b"u" * (256 * 1024)
            for _ in range(size // len(block)):
                yield block

        async with s.post("http://web/count", data=upload(), proxy=outbound) as r:
            assert await r.text() == str(size)
        received = 0
        async with s.get(f"http://web/big?n={size}", proxy=outbound) as r:
            async for chunk in r.content.iter_chunked(MB):
                received += len(chunk)
                await asyncio.sleep(0)  # a slowish reader: the proxy must apply backpressure
        assert received == size
        growth = _peak_rss(proc.pid) - before
        assert growth < 24 * MB, f"proxy peak memory grew by {growth / MB:.1f} MB for {size / MB:.0f} MB bodies"
        async with s.get(admin + "/metrics") as r:
            text = await r.text()
    assert "smi_request_duration_seconds_bucket" in text
    assert "smi_response_bytes_total{" in text


async def test_cli_rejects_bad_config_file_with_a_clear_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"node": 5}')
    out = subprocess.run(  # noqa: ASYNC221 - a short CLI run, nothing else on the loop
        [sys.executable, "-m", "smi.cli.main", "proxy", "--config-file", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert f"smi proxy: {path}: not a usable ProxyConfig" in out.stderr
