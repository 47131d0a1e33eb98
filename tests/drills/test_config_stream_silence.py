"""A frozen control plane: the stream's TCP connection stays open but nothing comes.

The config stream client must count it as down (``smi_config_stream_up`` 0) once the
server's heartbeats stop for longer than its silence bound, and reconnect, keeping the last
good config.  The "frozen" server here is a real socket that answers the stream's head and
one heartbeat, then never writes again (what a SIGSTOPped control plane looks like).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from proxy.configstream import ConfigStreamClient
from proxy.holder import ConfigHolder
from proxy.metrics import Metrics

pytestmark = pytest.mark.timeout(60)

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'16\r\n{"type": "heartbeat"}\n\r\n'
)


async def wait_until(condition: object, *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_silent_stream_is_down_and_reconnected() -> None:
    accepted = 0
    frozen: list[asyncio.StreamWriter] = []

    async def freeze(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD)
        frozen.append(writer)  # never written to again, never closed: a frozen peer

    server = await asyncio.start_server(freeze, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    holder = ConfigHolder(Metrics())
    client = ConfigStreamClient(
        url=f"http://127.0.0.1:{port}", namespace="shop", pod="p", holder=holder,
        read_timeout=0.5, backoff_initial=0.05, backoff_max=0.1,
    )  # fmt: skip
    task = asyncio.create_task(client.run())
    try:
        await wait_until(lambda: holder.metrics.config_stream_up == 1, within=10, what="the stream to be up")
        await wait_until(lambda: holder.metrics.config_stream_up == 0, within=10, what="silence to count as down")
        await wait_until(lambda: accepted >= 2, within=10, what="a reconnect")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for writer in frozen:
            writer.close()
        server.close()
        await server.wait_closed()


def test_the_default_silence_bound_is_three_server_heartbeats() -> None:
    from proxy.configstream import SILENCE_LIMIT
    from smi.distribution.server import DEFAULT_HEARTBEAT

    assert SILENCE_LIMIT == 3 * DEFAULT_HEARTBEAT
