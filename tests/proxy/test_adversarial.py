"""Adversarial clients against the inbound sidecar: the security boundary in front of the app.

Every test talks raw bytes to a real inbound listener on loopback (as the client pod,
127.0.0.11, whose identity the rules name) and checks what a user or operator would notice:
the app never parses a request the rules deny, the proxy answers 400/403/408/431 and
closes when it must, and it keeps serving other connections.

The app is a raw recorder (``RawApp``): it keeps every byte it receives and the requests it
parsed completely, so "the app never saw ``/admin``" is checked on the wire, not through a
framework that might normalise paths itself.

Rules (one TrafficTarget for the client): any method on paths starting ``/allowed``;
``GET`` on any path except ``/admin...`` and ``/tenant...`` (``/(?!admin|tenant)``: the shape a
path trick attacks);
``GET /tenant`` only with ``x-tenant: a``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy import proxyproto
from proxy.headers import normalize_target
from proxy.limits import HttpLimits
from proxy.running import Proxy
from smi.proxyconfig import AllowRule, HttpMatch
from tests.proxy.harness import CLIENT_ID, CLIENT_IP, OTHER_ID, SERVER_IP, running_proxy, server_config, wait_until

RULE = AllowRule(
    "default/web-access/HTTPRouteGroup/web",
    (CLIENT_ID,),
    "http",
    (),
    (
        HttpMatch("allowed", path_regex="/allowed"),
        HttpMatch("not-admin", path_regex="/(?!admin|tenant)", methods=("GET",)),
        HttpMatch("tenant-a", path_regex="/tenant$", methods=("GET",), headers=(("x-tenant", "a"),)),
    ),
)


@dataclass
class RawApp:
    """A minimal HTTP/1.1 app: records raw bytes and complete requests, answers ``<target> <body length>``."""

    raw: bytearray = field(default_factory=bytearray)
    requests: list[tuple[bytes, bytes, dict[bytes, list[bytes]], bytes]] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self, host: str = SERVER_IP) -> RawApp:
        self.server = await asyncio.get_running_loop().create_server(lambda: _RawAppConnection(self), host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def targets(self) -> list[bytes]:
        return [url for _, url, _, _ in self.requests]


class _RawAppConnection(asyncio.Protocol):
    def __init__(self, app: RawApp) -> None:
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[bytes, list[bytes]] = {}
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.app.connections += 1

    def data_received(self, data: bytes) -> None:
        self.app.raw += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.setdefault(name.lower(), []).append(value)

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.app.requests.append((self.parser.get_method(), self.url, self.headers, self.body))
        text = b"%b %d" % (self.url, len(self.body))
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(text), text))


@asynccontextmanager
async def inbound(*, limits: HttpLimits | None = None) -> AsyncIterator[tuple[RawApp, Proxy]]:
    app = await RawApp().start()
    config = server_config(app_port=app.port, rules=(RULE,))
    extra = {"http_limits": limits} if limits is not None else {}
    try:
        async with running_proxy(config, inbound=(SERVER_IP, 0), outbound=None, **extra) as proxy:
            yield app, proxy
    finally:
        assert app.server is not None
        app.server.close()


async def connect(proxy: Proxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from the client pod, announcing the app port with a PROXY v2 header (as a sidecar does)."""
    host, port = proxy.addresses["inbound"]
    reader, writer = await asyncio.open_connection(host, port, local_addr=(CLIENT_IP, 0))
    return reader, writer


def preamble(app: RawApp) -> bytes:
    return proxyproto.encode(src_address=CLIENT_IP, src_port=1, dst_address=SERVER_IP, dst_port=app.port)


async def exchange(proxy: Proxy, app: RawApp, data: bytes, *, responses: int = 1, close: bool = False) -> list[bytes]:
    """Send ``data``; read up to ``responses`` responses' status lines; ``close``: then expect the proxy to close."""
    reader, writer = await connect(proxy)
    writer.write(preamble(app) + data)
    statuses: list[bytes] = []
    closed = False
    try:
        while len(statuses) < responses:
            line = await asyncio.wait_for(reader.readline(), 10)
            if not line:
                closed = True
                break
            statuses.append(line.rstrip())
            length = 0
            while (header := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await asyncio.wait_for(reader.readexactly(length), 10)
        if close and not closed:
            closed = await asyncio.wait_for(reader.read(), 10) == b""
    except ConnectionResetError:
        closed = True
    writer.close()
    assert closed or not close, "the proxy kept the connection open"
    return statuses


async def still_serving(proxy: Proxy, app: RawApp) -> None:
    statuses = await exchange(proxy, app, b"GET /allowed/ok HTTP/1.1\r\nhost: web\r\n\r\n")
    assert statuses == [b"HTTP/1.1 200 OK"]
    assert app.targets()[-1] == b"/allowed/ok"


HIDDEN = b"GET /admin HTTP/1.1\r\nhost: web\r\n\r\n"


# ---------------------------------------------------------------------------------------- request smuggling
@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"content-length: %d\r\ntransfer-encoding: chunked\r\n", id="content-length-and-chunked"),
        pytest.param(b"transfer-encoding: chunked\r\ncontent-length: %d\r\n", id="chunked-and-content-length"),
        pytest.param(b"content-length: %d\r\ncontent-length: 0\r\n", id="two-content-lengths"),
        pytest.param(b"content-length: %d, 0\r\n", id="content-length-list"),
        pytest.param(b"content-length: +%d\r\n", id="signed-content-length"),
        pytest.param(b"transfer-encoding: chunked, identity\r\n", id="chunked-then-identity"),
        pytest.param(b"transfer-encoding: chunked\r\ntransfer-encoding: identity\r\n", id="two-te-headers"),
        pytest.param(b"transfer-encoding : chunked\r\n", id="space-before-colon"),
        pytest.param(b"transfer-encoding: xchunked\r\n", id="xchunked"),
        pytest.param(b"transfer-encoding: chunked;x\r\n", id="chunked-with-parameter"),
        pytest.param(b"transfer-encoding:\x0bchunked\r\n", id="vertical-tab"),
    ],
)
async def test_ambiguous_framing_is_refused_and_the_hidden_request_never_reaches_the_app(head: bytes) -> None:
    body = b"0\r\n\r\n" + HIDDEN
    if b"%d" in head:
        head = head % len(body)
    async with inbound() as (app, proxy):
        statuses = await exchange(
            proxy, app, b"POST /allowed HTTP/1.1\r\nhost: web\r\n" + head + b"\r\n" + body, close=True
        )
        assert statuses == [b"HTTP/1.1 400 Bad Request"]
        assert b"/admin" not in app.raw and app.requests == []
        assert proxy.metrics.error_total("bad_request") == 1
        await still_serving(proxy, app)


async def test_a_request_inside_a_body_stays_body_and_the_next_request_is_authorized() -> None:
    async with inbound() as (app, proxy):
        data = b"POST /allowed HTTP/1.1\r\nhost: web\r\ncontent-length: %d\r\n\r\n%b" % (len(HIDDEN), HIDDEN)
        chunked = b"POST /allowed/c HTTP/1.1\r\nhost: web\r\ntransfer-encoding: chunked\r\n\r\n"
        chunked += b"%x\r\n%b\r\n0\r\n\r\n" % (len(b"0\r\n\r\n" + HIDDEN), b"0\r\n\r\n" + HIDDEN)
        statuses = await exchange(proxy, app, data + chunked + HIDDEN, responses=3)
        assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 403 Forbidden"]
        assert app.targets() == [b"/allowed", b"/allowed/c"]
        assert [body for *_, body in app.requests] == [HIDDEN, b"0\r\n\r\n" + HIDDEN]


async def test_identity_then_chunked_is_framed_as_chunked_on_both_sides() -> None:
    # The parser accepts this (chunked is last); the proxy must frame it the same way.
    async with inbound() as (app, proxy):
        data = (
            b"POST /allowed HTTP/1.1\r\nhost: web\r\ntransfer-encoding: identity\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n" + HIDDEN
        )
        statuses = await exchange(proxy, app, data, responses=2)
        assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 403 Forbidden"]
        assert [(url, body) for _, url, _, body in app.requests] == [(b"/allowed", b"hello")]


async def test_an_invalid_chunk_size_is_400_and_the_app_gets_no_complete_request() -> None:
    async with inbound() as (app, proxy):
        data = b"POST /allowed HTTP/1.1\r\nhost: web\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n" + HIDDEN
        statuses = await exchange(proxy, app, data, close=True)
        assert statuses == [b"HTTP/1.1 400 Bad Request"]
        assert app.requests == [] and b"/admin" not in app.raw
        await still_serving(proxy, app)


# ---------------------------------------------------------------------------------------- path tricks
@pytest.mark.parametrize(
    ("target", "status", "app_sees"),
    [
        (b"/allowed/../admin", 403, None),
        (b"//admin", 403, None),
        (b"/./admin", 403, None),
        (b"/%61dmin", 403, None),
        (b"/adm%69n/users", 403, None),
        (b"/allowed/%2e%2e/admin", 403, None),
        (b"/allowed/.%2E/admin", 403, None),
        (b"http://web/admin", 403, None),
        (b"http://web/allowed/../admin", 403, None),
        (b"/allowed%2F..%2Fadmin", 400, None),
        (b"/allowed/..%5cadmin", 400, None),
        (b"/allowed\\..\\admin", 400, None),
        (b"/allowed#/../admin", 400, None),
        (b"/allowed/%zz", 400, None),
        (b"/allowed/%6", 400, None),
        (b"/allowed/./x//y/../z/?q=/../admin#", 400, None),
        (b"/allowed/./x//y/../z/?q=/../admin", 200, b"/allowed/x/z/?q=/../admin"),
        (b"/al%6Cowed/a%20b", 200, b"/allowed/a%20b"),
        (b"/allowed/..", 200, b"/"),  # GET on / is allowed by not-admin; never above the root
        (b"/../../allowed", 200, b"/allowed"),
        (b"http://web/allowed/x?y", 200, b"/allowed/x?y"),
    ],
)
async def test_the_path_the_rules_see_is_the_path_the_app_gets(
    target: bytes, status: int, app_sees: bytes | None
) -> None:
    async with inbound() as (app, proxy):
        statuses = await exchange(proxy, app, b"GET %b HTTP/1.1\r\nhost: web\r\n\r\n" % target)
        assert statuses and statuses[0].startswith(b"HTTP/1.1 %d " % status)
        assert app.targets() == ([app_sees] if app_sees is not None else [])
        if app_sees is None:
            assert app.raw == b""
        else:
            assert app.raw.startswith(b"GET %b HTTP/1.1\r\n" % app_sees)


async def test_a_huge_path_is_refused_and_a_long_one_passes() -> None:
    async with inbound() as (app, proxy):
        long = b"/allowed/" + b"a" * 8000
        statuses = await exchange(proxy, app, b"GET %b HTTP/1.1\r\nhost: web\r\n\r\n" % long)
        assert statuses == [b"HTTP/1.1 200 OK"] and app.targets() == [long]
        huge = b"/allowed/" + b"a" * (1 << 20)
        statuses = await exchange(proxy, app, b"GET %b HTTP/1.1\r\nhost: web\r\n\r\n" % huge, close=True)
        assert statuses in ([], [b"HTTP/1.1 431 Request Header Fields Too Large"])
        assert app.targets() == [long]
        await still_serving(proxy, app)


# ---------------------------------------------------------------------------------------- header tricks
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"x-tenant: a\r\n", 200),
        (b"X-TENANT: a\r\n", 200),
        (b"X-Tenant:a \r\n", 200),  # optional whitespace is not part of the value
        (b"x-tenant: b\r\n", 403),
        (b"", 403),
        (b"x-tenant: a\r\nx-tenant: b\r\n", 403),  # the app may read either line: both must be allowed
        (b"x-tenant: b\r\nX-Tenant: a\r\n", 403),
        (b"x-tenant: a\r\nx-tenant: a\r\n", 200),
        (b"x-tenant: a, b\r\n", 403),
        (b"x-tenant: a\r\nx_tenant: b\r\n", 403),  # CGI/WSGI apps read x_tenant as x-tenant
    ],
)
async def test_a_header_rule_holds_for_every_line_the_app_could_read(headers: bytes, status: int) -> None:
    async with inbound() as (app, proxy):
        statuses = await exchange(proxy, app, b"GET /tenant HTTP/1.1\r\nhost: web\r\n%b\r\n" % headers)
        assert statuses and statuses[0].startswith(b"HTTP/1.1 %d " % status)
        assert len(app.requests) == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"x-tenant: a\r\n b\r\n", id="obs-fold"),
        pytest.param(b"x-tenant: a\x00b\r\n", id="nul"),
        pytest.param(b"x-tenant: a\rx-admin: 1\r\n", id="bare-cr"),
        pytest.param(b"x-tenant: a\nx-admin: 1\r\n", id="bare-lf"),
        pytest.param(b"x tenant: a\r\n", id="space-in-name"),
        pytest.param(b"x-tenant\x00: a\r\n", id="nul-in-name"),
    ],
)
async def test_control_characters_and_folding_in_headers_are_400_and_never_forwarded(headers: bytes) -> None:
    async with inbound() as (app, proxy):
        statuses = await exchange(proxy, app, b"GET /tenant HTTP/1.1\r\nhost: web\r\n%b\r\n" % headers, close=True)
        assert statuses == [b"HTTP/1.1 400 Bad Request"]
        assert app.raw == b""
        await still_serving(proxy, app)


# ---------------------------------------------------------------------------------------- limits
async def _send_until_refused(writer: asyncio.StreamWriter, data: bytes, times: int) -> None:
    try:
        for _ in range(times):
            writer.write(data)
            await asyncio.wait_for(writer.drain(), 10)
    except (ConnectionError, TimeoutError):
        pass


async def test_a_huge_header_block_is_431_and_closed() -> None:
    async with inbound() as (app, proxy):
        reader, writer = await connect(proxy)
        writer.write(preamble(app) + b"GET /allowed HTTP/1.1\r\nhost: web\r\n")
        await _send_until_refused(writer, b"x-filler: " + b"f" * 1000 + b"\r\n", 1024)  # 1 MB
        writer.write_eof()
        # the proxy answers, then reads and drops the rest before closing: no reset destroys the answer
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert b"connection: close" in answer and b"request head over 65536 bytes" in answer
        writer.close()
        assert app.raw == b""
        await still_serving(proxy, app)


async def test_too_many_header_fields_are_431() -> None:
    async with inbound() as (app, proxy):
        many = b"".join(b"x-h%d: 1\r\n" % i for i in range(101))
        statuses = await exchange(proxy, app, b"GET /allowed HTTP/1.1\r\nhost: web\r\n%b\r\n" % many, close=True)
        assert statuses == [b"HTTP/1.1 431 Request Header Fields Too Large"]
        assert app.raw == b""
        fine = b"".join(b"x-h%d: 1\r\n" % i for i in range(90))
        statuses = await exchange(proxy, app, b"GET /allowed HTTP/1.1\r\nhost: web\r\n%b\r\n" % fine)
        assert statuses == [b"HTTP/1.1 200 OK"]


async def test_a_client_that_pipelines_without_reading_is_stopped_by_flow_control() -> None:
    """The proxy must stop reading (so the client's send blocks) long before it has read everything."""
    async with inbound() as (app, proxy):
        host, port = proxy.addresses["inbound"]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
        sock.bind((CLIENT_IP, 0))
        sock.connect((host, port))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        request = b"GET /allowed/p HTTP/1.1\r\nhost: web\r\n\r\n"
        block = request * 1000
        sent, budget = 0, 64 << 20
        sock.send(preamble(app))
        stalled = False
        try:
            while sent < budget:
                try:
                    sent += sock.send(block)
                    continue
                except BlockingIOError:
                    pass
                # wait (bounded) for room; none for a while means the proxy stopped reading
                writable = asyncio.Event()
                loop.add_writer(sock, writable.set)
                try:
                    await asyncio.wait_for(writable.wait(), 2)
                except TimeoutError:
                    stalled = True
                    break
                finally:
                    loop.remove_writer(sock)
            assert stalled, f"the proxy read all {sent} bytes a client sent without reading a response"
            answered = len(app.requests)
            assert answered < sent // len(request)
        finally:
            # closed before the next check: the stalled client's queued requests may still trickle to
            # the app while the kernel's buffers (megabytes, autotuned) take the responses
            sock.close()
        await still_serving(proxy, app)


async def test_a_slowloris_head_gets_408_while_an_idle_keep_alive_connection_stays() -> None:
    async with inbound(limits=HttpLimits(head_timeout=0.2)) as (app, proxy):
        idle_reader, idle_writer = await connect(proxy)
        idle_writer.write(preamble(app))
        reader, writer = await connect(proxy)
        writer.write(preamble(app) + b"GET /allowed HTTP/1.1\r\nhost: web\r\n")
        answer = b""
        for _ in range(400):  # one header byte every 50 ms: the drip is the attack, not a wait
            if reader.at_eof():
                break
            try:
                writer.write(b"x")
                await writer.drain()
            except ConnectionError:
                break
            try:
                answer += await asyncio.wait_for(reader.read(65536), 0.05)
            except TimeoutError:
                continue
        answer += await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert b"request head not complete within 0.2 s" in answer
        assert proxy.metrics.error_total("header_timeout") == 1
        assert app.raw == b""
        writer.close()
        # the idle connection lived through the same checks and still works
        idle_writer.write(b"GET /allowed/idle HTTP/1.1\r\nhost: web\r\n\r\n")
        assert (await asyncio.wait_for(idle_reader.readline(), 10)) == b"HTTP/1.1 200 OK\r\n"
        idle_writer.close()


# ---------------------------------------------------------------------------------------- TCP
async def _tcp_app(host: str = SERVER_IP) -> tuple[asyncio.Server, list[bytes]]:
    """Reads until EOF, answers the upper-cased bytes, closes."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        received.append(data)
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, 0), received


@asynccontextmanager
async def tcp_inbound(rules: tuple[AllowRule, ...]) -> AsyncIterator[tuple[Proxy, int, list[bytes]]]:
    server, received = await _tcp_app()
    port = server.sockets[0].getsockname()[1]
    try:
        async with running_proxy(
            server_config(app_port=port, protocol="tcp", rules=rules), inbound=(SERVER_IP, 0), outbound=None
        ) as proxy:
            yield proxy, port, received
    finally:
        server.close()


async def test_a_denied_tcp_connection_is_closed_and_the_app_gets_nothing() -> None:
    async with tcp_inbound((AllowRule("other", (OTHER_ID,), "tcp"),)) as (proxy, port, received):
        reader, writer = await connect(proxy)
        header = proxyproto.encode(src_address=CLIENT_IP, src_port=1, dst_address=SERVER_IP, dst_port=port)
        writer.write(header + b"secret")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        await wait_until(lambda: sum(s.denied for s in proxy.metrics.edges.values()) == 1)
    assert received == []


async def test_a_tcp_client_that_half_closes_gets_the_whole_answer() -> None:
    async with tcp_inbound((AllowRule("db", (CLIENT_ID,), "tcp"),)) as (proxy, port, received):
        header = proxyproto.encode(src_address=CLIENT_IP, src_port=1, dst_address=SERVER_IP, dst_port=port)
        # the FIN comes with the first bytes, before the proxy has connected to the app
        reader, writer = await connect(proxy)
        writer.write(header + b"hello")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b"HELLO"
        writer.close()
        # and after the splice is up
        reader, writer = await connect(proxy)
        writer.write(header + b"one ")
        writer.write(b"two")
        await writer.drain()
        await wait_until(lambda: sum(s.tcp_opened for s in proxy.metrics.edges.values()) == 2)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b"ONE TWO"
        writer.close()
    assert received == [b"hello", b"one two"]


# ---------------------------------------------------------------------------------------- the normaliser itself
_SEGMENTS = st.sampled_from(["", ".", "..", "a", "admin", "%2e", "%2E%2e", "%61", "b%20c", "%7e", "~"])


@given(st.lists(_SEGMENTS, max_size=8), st.sampled_from(["", "?q=/../x", "?"]))
def test_normalising_is_idempotent_and_leaves_no_dot_or_empty_segment(segments: list[str], query: str) -> None:
    target = ("/" + "/".join(segments) + query).encode()
    once = normalize_target(target)
    assert once is not None
    assert normalize_target(once) == once
    path = once.split(b"?", 1)[0]
    assert path.startswith(b"/")
    inner = path[1:].rstrip(b"/").split(b"/")
    assert path == b"/" or all(part not in (b"", b".", b"..") for part in inner)
    assert b"%2E" not in path.upper() and b"%61" not in path
    assert once[len(path) :] == query.encode()
