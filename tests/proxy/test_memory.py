"""What a sidecar loads: with mTLS off, no web framework, no cryptography, no prometheus_client.

Memory itself is measured by ``bench/proxy_memory_bench.py``; this checks the behaviour
that keeps it small, in a fresh interpreter (``sys.modules`` after a real start and scrape).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from smi.proxyconfig import encode
from tests.proxy.harness import client_config

SCRIPT = r"""
import asyncio, json, sys
from pathlib import Path

from proxy.running import Proxy
from proxy.settings import ProxySettings


async def main():
    settings = ProxySettings(
        config_file=Path(sys.argv[1]), outbound=("127.0.0.1", 0), inbound=("127.0.0.1", 0),
        admin=("127.0.0.1", 0), control_plane=sys.argv[2], namespace="default", pod="client-pod",
    )
    proxy = Proxy(settings)
    await proxy.start()
    answers = {}
    for path in ("/ready", "/metrics", "/config"):
        reader, writer = await asyncio.open_connection(*proxy.addresses["admin"])
        writer.write(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        answers[path] = (await asyncio.wait_for(reader.read(), 10)).split(b"\r\n", 1)[0].decode()
        writer.close()
    # wait (bounded) until the config stream client has tried and failed at least once
    deadline = asyncio.get_running_loop().time() + 20
    while not (proxy.stream is not None and proxy.stream.attempts):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.01)
    attempts = proxy.stream.attempts if proxy.stream is not None else 0
    await proxy.stop()
    loaded = {m.split(".")[0] for m in sys.modules}
    heavy = sorted(loaded & {"aiohttp", "cryptography", "prometheus_client", "multidict", "yarl"})
    print(json.dumps({"answers": answers, "heavy": heavy, "stream_attempts": attempts}))


asyncio.run(main())
"""


def test_mtls_off_sidecar_imports_nothing_heavy(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(encode(client_config((), ()))))
    # the config stream points at a closed port: the client is started and tried, and fails
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config), "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["answers"] == {
        "/ready": "HTTP/1.1 200 OK",
        "/metrics": "HTTP/1.1 200 OK",
        "/config": "HTTP/1.1 200 OK",
    }
    assert report["stream_attempts"] >= 1  # the config stream client really ran (and its imports are counted)
    assert report["heavy"] == []


def test_identity_package_is_lazy() -> None:
    code = (
        "import sys, proxy.identity.contexts, proxy.identity.inbound, proxy.identity.switching;"
        "assert 'cryptography' not in sys.modules and 'aiohttp' not in sys.modules, sorted(sys.modules);"
        "from proxy.identity import CertificateManager, TlsContexts, keys;"
        "assert 'cryptography' in sys.modules and 'aiohttp' not in sys.modules;"
        "assert 'cryptography.x509' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
