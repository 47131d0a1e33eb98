"""Pure pieces: gRPC deadline/status rules, head mapping between HTTP/2 and HTTP/1.1, the h2c upgrade probe."""

from __future__ import annotations

import pytest

from proxy.http2 import grpc
from proxy.http2.listeners import h2c_upgrade
from proxy.http2.messages import (
    Message,
    MessageError,
    from_http1_request,
    message_from_headers,
    to_http1_request,
    to_http1_response_head,
    trailers_as_http1,
)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"1S", 1.0), (b"250m", 0.25), (b"2M", 120.0), (b"1H", 3600.0), (b"5u", 5e-6), (b"100n", 1e-7),
     (b"99999999S", 99999999.0)],
)  # fmt: skip
def test_grpc_timeout_units(value: bytes, seconds: float) -> None:
    assert grpc.parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, b"", b"S", b"10", b"10x", b"-1S", b"123456789S", b"1.5S"])
def test_a_malformed_grpc_timeout_is_ignored(value: bytes | None) -> None:
    assert grpc.parse_timeout(value) is None


def test_grpc_outcome_comes_from_grpc_status_not_the_http_status() -> None:
    assert grpc.classify(200, 0) == "success"
    assert grpc.classify(200, 3) == "failure"  # INVALID_ARGUMENT with HTTP 200
    assert grpc.classify(200, None) == "success"
    assert grpc.classify(503, None) == "failure"
    assert grpc.status_of([(b"grpc-status", b"14"), (b"grpc-message", b"x")]) == 14
    assert grpc.status_of([(b"grpc-status", b"garbage")]) == grpc.UNKNOWN
    assert grpc.status_of([]) is None


def test_local_replies_to_grpc_calls_are_trailers_only_with_a_mapped_status() -> None:
    headers = dict(grpc.local_reply_headers(403, "no TrafficTarget allows x to POST /a.B/C"))
    assert headers[b":status"] == b"200" and headers[b"grpc-status"] == b"7"
    assert headers[b"grpc-message"] == b"no TrafficTarget allows x to POST /a.B/C"
    assert grpc.status_for_http(503) == grpc.UNAVAILABLE and grpc.status_for_http(504) == grpc.DEADLINE_EXCEEDED
    assert grpc.is_grpc(b"application/grpc+proto") and not grpc.is_grpc(b"application/json")


def test_a_request_head_means_for_routing_what_an_http1_head_means() -> None:
    m = message_from_headers([(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"web.ns:8080"),
                              (b":path", b"/a/./b/../%61dmin?q=1"), (b"x-team", b"blue")], request=True)  # fmt: skip
    head = m.request_head()
    assert head is not None
    assert (head.method, head.path) == ("GET", "/a/admin")
    assert head.header("x-team") == "blue" and head.header("host") == "web.ns:8080"
    assert m.path == b"/a/admin?q=1"  # what the rules saw is what the app gets
    ambiguous = message_from_headers([(b":method", b"GET"), (b":path", b"/a%2Fb")], request=True)
    assert ambiguous.request_head() is None


def test_heads_without_what_http2_requires_are_refused() -> None:
    with pytest.raises(MessageError):
        message_from_headers([(b":method", b"GET")], request=True)
    with pytest.raises(MessageError):
        message_from_headers([(b":status", b"2000")], request=False)
    with pytest.raises(MessageError):
        message_from_headers([(b":method", b"GET"), (b":path", b"/"), (b":status", b"200")], request=True)


def test_http1_to_http2_drops_connection_specific_fields_and_moves_host() -> None:
    m = from_http1_request(b"POST", b"/x", [(b"Host", b"web"), (b"Connection", b"keep-alive, X-Hop"),
                                            (b"X-Hop", b"1"), (b"Transfer-Encoding", b"chunked"),
                                            (b"TE", b"trailers, deflate"), (b"X-Keep", b" v ")])  # fmt: skip
    assert m.authority == b"web" and m.method == b"POST" and m.path == b"/x"
    assert m.headers == [(b"te", b"trailers"), (b"x-keep", b"v")]
    grpc_call = from_http1_request(b"POST", b"/a.B/C", [(b"host", b"g"), (b"content-type", b"application/grpc")])
    assert (b"te", b"trailers") in grpc_call.headers


def test_http2_to_http1_heads_and_trailers() -> None:
    m = Message([(b"x-a", b"1"), (b"te", b"trailers")], method=b"GET", authority=b"web:80", path=b"/p?q")
    assert to_http1_request(m, chunked=False) == b"GET /p?q HTTP/1.1\r\nhost: web:80\r\nx-a: 1\r\n\r\n"
    r = to_http1_response_head(Message([(b"content-type", b"text/plain")], status=404), chunked=True, close=True)
    assert r == (b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n"
                 b"connection: close\r\n\r\n")  # fmt: skip
    assert trailers_as_http1([(b"grpc-status", b"0")]) == b"0\r\ngrpc-status: 0\r\n\r\n"


def test_the_h2c_upgrade_probe_takes_only_a_complete_bodiless_upgrade_request() -> None:
    head = b"GET /x HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"  # noqa: E501
    found = h2c_upgrade(head)
    assert found is not None and found[:2] == (b"GET", b"/x") and found[3] == b"AAMAAABkAAQAoAAAAAIAAAAA"
    assert h2c_upgrade(head[:-2]) is None  # incomplete head
    assert h2c_upgrade(head.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\nabc")) is None  # a body
    assert h2c_upgrade(head.replace(b"Upgrade: h2c", b"Upgrade: websocket")) is None
    assert h2c_upgrade(head.replace(b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n", b"")) is None
