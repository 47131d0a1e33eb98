"""The sans-IO HTTP/2 connection core: two ``Http2Connection`` objects wired to each other, no sockets."""

from __future__ import annotations

from proxy.http2.connection import CANCEL, REFUSED_STREAM, Http2Connection, Role
from proxy.http2.events import (
    Body,
    Ended,
    Event,
    GoAway,
    RequestStarted,
    ResponseStarted,
    StreamReset,
    Trailers,
    Writable,
)
from proxy.http2.messages import Message


def pair(**server_kw: int) -> tuple[Http2Connection, Http2Connection]:
    client, server = Http2Connection(Role.CLIENT), Http2Connection(Role.SERVER, **server_kw)
    client.start()
    server.start()
    exchange(client, server)
    return client, server


def exchange(a: Http2Connection, b: Http2Connection) -> tuple[list[Event], list[Event]]:
    """Move bytes both ways until quiet; the events each side saw."""
    seen_a: list[Event] = []
    seen_b: list[Event] = []
    for _ in range(100):
        out_a, out_b = a.outgoing(), b.outgoing()
        if not out_a and not out_b:
            return seen_a, seen_b
        if out_a:
            seen_b += b.receive(out_a)
        if out_b:
            seen_a += a.receive(out_b)
    raise AssertionError("the two sides never went quiet")


def request(path: bytes = b"/svc/Method") -> Message:
    return Message([(b"content-type", b"application/grpc"), (b"te", b"trailers")], method=b"POST", scheme=b"http",
                   authority=b"greeter.shop:50051", path=path)  # fmt: skip


def test_a_request_and_a_response_with_trailers_travel_whole() -> None:
    client, server = pair()
    sid = client.open_stream(request())
    client.send_body(sid, b"\x00\x00\x00\x00\x02hi", end=True)
    _, at_server = exchange(client, server)
    started = next(e for e in at_server if isinstance(e, RequestStarted))
    assert started.message.path == b"/svc/Method" and started.message.authority == b"greeter.shop:50051"
    head = started.message.request_head()
    assert head is not None and head.method == "POST" and head.path == "/svc/Method"
    assert head.header("host") == "greeter.shop:50051" and head.header("content-type") == "application/grpc"
    assert b"".join(e.data for e in at_server if isinstance(e, Body)) == b"\x00\x00\x00\x00\x02hi"
    assert any(isinstance(e, Ended) for e in at_server)
    server.send_head(sid, Message([(b"content-type", b"application/grpc")], status=200))
    server.send_body(sid, b"\x00\x00\x00\x00\x01!")
    server.send_trailers(sid, [(b"grpc-status", b"0")])
    at_client, _ = exchange(client, server)
    assert [type(e) for e in at_client] == [ResponseStarted, Body, Trailers, Ended]
    assert at_client[2] == Trailers(sid, [(b"grpc-status", b"0")])
    assert client.open_streams == 0 and server.open_streams == 0


def test_a_large_body_waits_for_the_readers_window_and_blocks_the_writer_until_it_is_consumed() -> None:
    client, server = pair()
    sid = client.open_stream(request())
    big = bytes(range(256)) * 4096  # 1 MiB, four times the stream window
    assert client.send_body(sid, big, end=True) is False  # over the high-water mark: blocked
    received = bytearray()
    writable = False
    for _ in range(200):
        at_client, at_server = exchange(client, server)
        writable = writable or any(isinstance(e, Writable) for e in at_client)
        bodies = [e for e in at_server if isinstance(e, Body)]
        if not bodies:
            break
        for e in bodies:
            received += e.data
            server.consumed(sid, e.flow_length)  # passed on: give the window back
    assert bytes(received) == big
    assert writable, "the writer was never told it may send again"


def test_nothing_more_arrives_while_the_reader_does_not_consume() -> None:
    client, server = pair()
    sid = client.open_stream(request())
    client.send_body(sid, b"x" * (2 * 1024 * 1024))
    _, at_server = exchange(client, server)
    first = sum(len(e.data) for e in at_server if isinstance(e, Body))
    _, again = exchange(client, server)
    assert 0 < first <= 256 * 1024 and not again  # held at the stream window: bounded memory


def test_the_servers_stream_limit_is_what_the_client_may_open() -> None:
    client, server = pair(max_concurrent_streams=2)
    assert client.can_open()
    client.open_stream(request())
    client.open_stream(request())
    exchange(client, server)
    assert not client.can_open()


def test_reset_reaches_the_other_side() -> None:
    client, server = pair()
    sid = client.open_stream(request())
    exchange(client, server)
    client.reset(sid, CANCEL)
    _, at_server = exchange(client, server)
    assert StreamReset(sid, CANCEL, remote=True) in at_server


def test_graceful_goaway_lets_streams_in_flight_finish_and_refuses_new_ones() -> None:
    client, server = pair()
    first = client.open_stream(request(b"/a"))
    exchange(client, server)
    server.goaway()
    at_client, _ = exchange(client, server)
    assert GoAway(first, 0) in at_client
    assert not client.can_open() and not client.drained
    # The stream in flight still works both ways after the GOAWAY.
    client.send_body(first, b"late", end=True)
    _, at_server = exchange(client, server)
    assert Body(first, b"late", 4) in at_server
    server.send_head(first, Message(status=200))
    server.send_trailers(first, [(b"grpc-status", b"0")])
    at_client, _ = exchange(client, server)
    assert any(isinstance(e, Trailers) for e in at_client)
    assert (client.drained, server.drained) == (True, True)


def test_a_stream_opened_after_the_goaway_is_refused() -> None:
    client, server = pair()
    client.open_stream(request(b"/a"))
    exchange(client, server)
    server.goaway()
    late = client._h2.get_next_available_stream_id()  # a client that ignores the GOAWAY
    client._h2.send_headers(late, request(b"/b").to_headers(), end_stream=True)
    at_client, at_server = exchange(client, server)
    assert not any(isinstance(e, RequestStarted) for e in at_server)
    assert StreamReset(late, REFUSED_STREAM, remote=True) in at_client


def test_an_h2c_upgrade_makes_the_request_stream_one() -> None:
    server = Http2Connection(Role.SERVER)
    client = Http2Connection(Role.CLIENT)
    settings = client._h2.initiate_upgrade_connection()
    assert settings is not None
    events = server.start_upgraded(settings, request())
    assert events == [RequestStarted(1, request(), ended=True), Ended(1)]
    exchange(client, server)
    server.send_head(1, Message(status=200), end=True)
    at_client, _ = exchange(client, server)
    assert any(isinstance(e, ResponseStarted) and e.stream_id == 1 for e in at_client)
