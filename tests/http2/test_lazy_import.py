"""A sidecar that sees no HTTP/2 traffic does not load ``h2`` (~3 MB per sidecar); the first HTTP/2 connection does.

Checked in a fresh interpreter after a real start: HTTP/1.1 requests through the outbound
listener, then one HTTP/2 prior-knowledge connection.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import asyncio, json, sys

from proxy.running import Proxy
from proxy.settings import ProxySettings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


async def main():
    proxy = Proxy(ProxySettings(outbound=("127.0.0.1", 0), inbound=("127.0.0.1", 0), admin=None))
    await proxy.start()
    reader, writer = await asyncio.open_connection(*proxy.addresses["outbound"])
    writer.write(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
    answer = (await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)).decode().strip()
    writer.close()
    after_http1 = "h2" in sys.modules
    reader, writer = await asyncio.open_connection(*proxy.addresses["outbound"])
    writer.write(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # the preface and an empty SETTINGS
    settings = await asyncio.wait_for(reader.readexactly(9), 10)  # the server's SETTINGS frame header
    writer.close()
    await proxy.stop()
    print(json.dumps({"answer": answer, "after_http1": after_http1, "after_http2": "h2" in sys.modules,
                      "server_frame_type": settings[3]}))


asyncio.run(main())
"""


def test_h2_is_loaded_only_by_the_first_http2_connection() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"answer": "HTTP/1.1 503 Service Unavailable", "after_http1": False, "after_http2": True,
                    "server_frame_type": 4}  # fmt: skip
