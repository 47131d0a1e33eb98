"""The sidecar's control-plane HTTP client against servers that answer in every framing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from proxy import httpclient
from proxy.configstream import ConfigStreamClient
from proxy.holder import ConfigHolder
from proxy.metrics import Metrics
from tests.proxy.harness import wait_until

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Answer], Awaitable[str]]]:
    servers: list[asyncio.AbstractServer] = []

    async def start(answer: Answer) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            try:
                await answer(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


def fixed(data: bytes) -> Answer:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return answer


async def test_content_length_chunked_and_close_delimited_bodies(raw_server) -> None:  # type: ignore[no-untyped-def]
    url = await raw_server(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloTRAILING"))
    reply = await httpclient.request("GET", url + "/x")
    assert (reply.status, reply.body) == (200, b"hello")
    chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    reply = await httpclient.request("POST", await raw_server(fixed(chunked)), body=b"csr")
    assert (reply.status, reply.body, reply.headers["transfer-encoding"]) == (201, b"abcdefg", "chunked")
    reply = await httpclient.request("GET", await raw_server(fixed(b"HTTP/1.1 200 OK\r\n\r\nuntil close")))
    assert reply.body == b"until close"


async def test_unusable_answers_are_errors_not_hangs(raw_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(httpclient.HttpError, match="unreadable"):
        await httpclient.request("GET", await raw_server(fixed(b"SMTP ready\r\n\r\n")))
    with pytest.raises(httpclient.HttpError, match="closed before the response head"):
        await httpclient.request("GET", await raw_server(fixed(b"")))
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100
    with pytest.raises(httpclient.HttpError, match="longer than 10 bytes"):
        await httpclient.request("GET", await raw_server(fixed(big)), max_body=10)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    with pytest.raises(TimeoutError):
        await httpclient.request("GET", await raw_server(silent), seconds=0.2)
    with pytest.raises(ValueError, match="not an http"):
        await httpclient.request("GET", "ftp://127.0.0.1/")


async def test_request_line_carries_path_query_and_headers(raw_server) -> None:  # type: ignore[no-untyped-def]
    seen: list[bytes] = []

    async def start() -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            seen.append(await reader.readexactly(3))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    url = await start()
    response = await httpclient.open_request(
        "POST", url + "/v1/x?a=1", params={"pod": "web 1"}, headers={"Authorization": "Bearer t"}, body=b"abc"
    )
    response.close()
    assert response.status == 204
    head = seen[0].decode()
    assert head.startswith("POST /v1/x?a=1&pod=web+1 HTTP/1.1\r\n")
    assert "Authorization: Bearer t\r\n" in head and "Content-Length: 3\r\n" in head and "Host: 127.0.0.1:" in head
    assert seen[1] == b"abc"


async def test_stream_client_reads_chunked_ndjson_from_aiohttp_and_reports_http_errors() -> None:
    lines = [b'{"type": "heartbeat"}\n', b'{"type": "config", "vers', b'ion": "bad"}\n']
    status = {"code": 200}

    async def stream(request: web.Request) -> web.StreamResponse:
        if status["code"] != 200:
            return web.Response(status=status["code"], text="no such pod")
        response = web.StreamResponse(headers={"content-type": "application/x-ndjson"})
        await response.prepare(request)
        for line in lines:
            await response.write(line)
        return response

    app = web.Application()
    app.router.add_get("/v1/config/stream", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    holder = ConfigHolder(Metrics())
    client = ConfigStreamClient(
        url=f"http://127.0.0.1:{port}", namespace="default", pod="web-1", holder=holder, backoff_initial=0.01
    )
    task = asyncio.get_running_loop().create_task(client.run())
    try:
        # the message split across two chunks is put back together (and rejected: bad version)
        await wait_until(lambda: holder.metrics.config_rejected >= 1)
        status["code"] = 404
        attempts = client.attempts
        await wait_until(lambda: client.attempts > attempts + 1)
        assert holder.current is None and holder.metrics.config_stream_up == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()
