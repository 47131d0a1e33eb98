"""Trailers of chunked HTTP/1.1 messages in the sans-IO core, event by event (no sockets).

A chunked body may end with trailer fields (``0\\r\\n`` + fields + ``\\r\\n``).  The core passes
them on both ways, leaves out the fields a trailer may not carry, and classifies a gRPC
call by the ``grpc-status`` among them (or in the head of a trailers-only response).
"""

from __future__ import annotations

from proxy.http import commands as c
from proxy.http import events as ev
from proxy.limits import DEFAULT_LIMITS
from tests.proxy.core_harness import Core, make_core, of

CHUNKED_POST = b"POST /test.Echo/Unary HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n"
GRPC_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n"


def grpc_counts(core: Core) -> dict[int, int]:
    counts: dict[int, int] = {}
    for stats in core.metrics.edges.values():
        for code, n in stats.grpc.items():
            counts[code] = counts.get(code, 0) + n
    return counts


def test_request_trailers_ride_the_last_chunk_upstream_without_the_fields_a_trailer_may_not_carry() -> None:
    core = make_core()
    core.send(CHUNKED_POST + b"\r\n3\r\nabc\r\n")
    up = core.connect()
    assert core.sent_upstream(up).endswith(b"3\r\nabc\r\n")
    core.send(b"0\r\nx-checksum: 900150983cd24fb0\r\nhost: evil\r\nauthorization: x\r\n\r\n")
    assert core.sent_upstream(up) == b"0\r\nx-checksum: 900150983cd24fb0\r\n\r\n"


def test_request_trailers_that_arrive_before_the_upstream_is_connected_are_kept_with_the_body() -> None:
    core = make_core()
    core.send(CHUNKED_POST + b"\r\n3\r\nabc\r\n0\r\nx-checksum: 1\r\n\r\n")  # the whole request in one read
    up = core.connect()
    sent = core.sent_upstream(up)
    assert sent.endswith(b"3\r\nabc\r\n0\r\nx-checksum: 1\r\n\r\n"), sent
    assert b"x-checksum" not in sent.split(b"\r\n\r\n", 1)[0]  # a trailer is no header of the forwarded head


def test_trailers_that_arrive_while_the_upstream_connects_never_leak_into_the_forwarded_head() -> None:
    core = make_core()
    core.send(CHUNKED_POST + b"\r\n3\r\nabc\r\n0\r\nx-first: 1\r\n")  # the trailer section is not complete
    up = core.connect()
    head = core.sent_upstream(up).split(b"\r\n\r\n", 1)[0]
    assert b"x-first" not in head
    core.send(b"x-second: 2\r\n\r\n")
    assert core.sent_upstream(up) == b"0\r\nx-first: 1\r\nx-second: 2\r\n\r\n"


def test_a_content_length_among_request_trailers_is_refused_by_the_parser() -> None:
    core = make_core()
    core.send(CHUNKED_POST + b"\r\n3\r\nabc\r\n")
    up = core.connect()
    core.send(b"0\r\ncontent-length: 99\r\n\r\n")  # llhttp refuses it (smuggling): never sent on
    assert core.sent_upstream(up) == b"" and of(core.last, c.CloseUpstream)


def test_a_chunked_request_without_trailers_ends_as_before() -> None:
    core = make_core()
    core.send(CHUNKED_POST + b"\r\n3\r\nabc\r\n0\r\n\r\n")
    up = core.connect()
    assert core.sent_upstream(up).endswith(b"3\r\nabc\r\n0\r\n\r\n")


def test_trailer_fields_are_bounded_by_max_headers_and_the_request_still_goes_through() -> None:
    core = make_core()
    many = b"".join(b"x-t%d: v\r\n" % i for i in range(3 * DEFAULT_LIMITS.max_headers))
    core.send(CHUNKED_POST + b"\r\n1\r\na\r\n0\r\n" + many + b"\r\n")
    up = core.connect()
    last = core.sent_upstream(up).split(b"1\r\na\r\n", 1)[1]
    assert last.startswith(b"0\r\nx-t0: v\r\n") and last.endswith(b"\r\n\r\n")
    assert last.count(b": v\r\n") <= 2 * DEFAULT_LIMITS.max_headers  # the rest were dropped, not buffered


def test_te_trailers_from_the_client_is_asked_for_upstream_and_other_te_values_are_not() -> None:
    core = make_core()
    core.send(b"GET /a HTTP/1.1\r\nHost: web\r\nTE: trailers\r\n\r\n")
    up = core.connect()
    assert b"\r\nte: trailers\r\n" in core.sent_upstream(up).lower()
    core = make_core()
    core.send(b"GET /a HTTP/1.1\r\nHost: web\r\nTE: gzip\r\n\r\n")
    up = core.connect()
    assert b"te:" not in core.sent_upstream(up).lower()  # hop-by-hop, and not about trailers: dropped


def test_response_trailers_reach_a_chunked_client_and_grpc_status_classifies_the_call() -> None:
    core = make_core()
    core.send(b"POST /test.Echo/Unary HTTP/1.1\r\nHost: web\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n")
    up = core.connect()
    cmds = core(ev.UpstreamData(up, GRPC_HEAD + b"5\r\n\x00\x00\x00\x00\x00\r\n"))
    core(ev.UpstreamData(up, b"0\r\ngrpc-status: 5\r\ngrpc-message: not%20found\r\n\r\n"))
    assert core.written() == b"0\r\ngrpc-status: 5\r\ngrpc-message: not%20found\r\n\r\n"
    assert of(core.last, c.ReleaseUpstream) == [c.ReleaseUpstream(up)]  # complete: the connection is reusable
    assert of(cmds, c.WriteClient) and grpc_counts(core) == {5: 1}  # a failure although HTTP said 200


def test_a_trailers_only_grpc_response_is_classified_from_its_head() -> None:
    core = make_core()
    core.send(b"POST /test.Echo/Unary HTTP/1.1\r\nHost: web\r\nContent-Length: 0\r\n\r\n")
    up = core.connect()
    core(ev.UpstreamData(up, b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 0\r\n"
                             b"content-length: 0\r\n\r\n"))  # fmt: skip
    assert grpc_counts(core) == {0: 1}


def test_a_response_without_trailers_ends_as_before_and_counts_no_grpc_status() -> None:
    core = make_core()
    core.send(b"GET /a HTTP/1.1\r\nHost: web\r\n\r\n")
    up = core.connect()
    core(ev.UpstreamData(up, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
    assert core.written().endswith(b"2\r\nok\r\n0\r\n\r\n") and grpc_counts(core) == {}


def test_an_http10_client_gets_the_body_without_trailers_and_the_call_is_still_classified() -> None:
    core = make_core()
    core.send(b"GET /a HTTP/1.0\r\nHost: web\r\n\r\n")
    up = core.connect()
    core(ev.UpstreamData(up, GRPC_HEAD + b"2\r\nok\r\n0\r\ngrpc-status: 14\r\n\r\n"))
    written = b"".join(x.data for x in of(core.last, c.WriteClient))
    assert written.endswith(b"\r\n\r\nok") and b"grpc-status" not in written  # not chunked: no place for them
    assert grpc_counts(core) == {14: 1}
