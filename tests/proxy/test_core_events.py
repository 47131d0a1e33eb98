"""The sans-IO HTTP core, event by event (no sockets): what the socket tests show, step by step.

Each test feeds events (client bytes, an upstream connected or refused, upstream bytes, a
deadline) and asserts the commands that come back, in order where order matters.
"""

from __future__ import annotations

import logging

from proxy.http import commands as c
from proxy.http import events as ev
from proxy.http.attempts import ConnectFailure
from proxy.http.upstreams import Upstream
from tests.proxy.core_harness import OK, WEB_A, WEB_B, make_core, of, status_of, web_config
from tests.proxy.harness import client_config, cluster, service

GET = b"GET /a HTTP/1.1\r\nHost: web\r\n\r\n"


def test_a_request_goes_upstream_and_the_response_back_and_the_connection_to_the_pool():
    core = make_core()
    assert of(core.send(GET), c.OpenUpstream) and core.attempt().number == 1
    up = core.connect()
    assert core.sent_upstream(up) == b"GET /a HTTP/1.1\r\nHost: web\r\n\r\n"
    cmds = core(ev.UpstreamData(up, OK))
    assert core.written() == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"  # one write: head and body
    assert len(of(cmds, c.WriteClient)) == 1
    assert of(cmds, c.ReleaseUpstream) == [c.ReleaseUpstream(up)]
    assert not of(cmds, c.CloseClient)
    edge = [s for s in core.metrics.edges.values() if s.requests]
    assert len(edge) == 1 and edge[0].requests == 1


def test_pipelined_requests_are_answered_in_order_one_upstream_exchange_at_a_time():
    core = make_core(web_config(WEB_A))
    cmds = core.send(GET + b"GET /b HTTP/1.1\r\nHost: web\r\n\r\n")
    assert len(of(cmds, c.OpenUpstream)) == 1  # only the head of the queue talks upstream
    assert c.PAUSE_CLIENT in cmds  # the client waits while a request is queued
    first = core.connect()
    cmds = core(ev.UpstreamData(first, OK))
    assert core.written() == OK
    # the next request goes out on the same connection at once (no trip through the pool)
    assert not of(cmds, c.OpenUpstream) and not of(cmds, c.ReleaseUpstream)
    assert core.sent_upstream(first).startswith(b"GET /b ") and c.RESUME_CLIENT in cmds
    cmds = core(ev.UpstreamData(first, b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb"))
    assert core.written().endswith(b"\r\n\r\nb")
    assert of(cmds, c.ReleaseUpstream) == [c.ReleaseUpstream(first)]  # now idle: back to the pool


def test_100_continue_reaches_the_client_before_the_body_is_sent():
    core = make_core()
    core.send(b"POST /up HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    up = core.connect()
    assert b"expect: 100-continue" in core.sent_upstream(up).lower()
    core(ev.UpstreamData(up, b"HTTP/1.1 100 Continue\r\n\r\n"))
    assert core.written() == b"HTTP/1.1 100 Continue\r\n\r\n"
    core.send(b"body")
    assert core.sent_upstream(up) == b"body"
    core(ev.UpstreamData(up, OK))
    assert core.written() == OK


def test_an_upgrade_becomes_a_tunnel_with_the_bytes_read_past_the_request():
    core = make_core()
    core.send(b"GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly")
    assert c.PAUSE_CLIENT in core.last  # nothing more is parsed as HTTP
    up = core.connect()
    head = core.sent_upstream(up)
    assert b"connection: upgrade\r\nupgrade: websocket\r\n" in head and b"early" not in head
    cmds = core(
        ev.UpstreamData(up, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi")
    )
    written = core.written()
    assert written.startswith(b"HTTP/1.1 101 ") and written.endswith(b"\r\n\r\nhi")
    assert of(cmds, c.StartTunnel) == [c.StartTunnel(up, b"early")]
    assert cmds.index(of(cmds, c.WriteClient)[-1]) < cmds.index(of(cmds, c.StartTunnel)[0])


def test_requests_that_could_smuggle_are_refused_with_400_and_never_sent():
    cases = [
        b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET / HTTP/1.1\r\nHost: web\r\nHost: admin\r\n\r\n",
        b"GET /a/%2e%2e%2fadmin HTTP/1.1\r\nHost: web\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    ]
    for request in cases:
        core = make_core()
        cmds = core.send(request)
        assert not of(cmds, c.OpenUpstream), request
        assert status_of(core.written()) == 400, request
        assert of(cmds, c.CloseClient) or b"connection: close" not in core.written(), request


def test_two_host_headers_are_a_400_naming_the_reason():
    core = make_core()
    core.send(b"GET / HTTP/1.1\r\nHost: web\r\nHost: web\r\n\r\n")
    written = core.written()
    assert status_of(written) == 400 and b"two Host header fields" in written
    assert core.errors("bad_request") == 1


def test_a_port_of_unicode_digits_is_a_400_not_a_500():
    core = make_core()
    core.send("GET / HTTP/1.1\r\nHost: web:8\u00b3\r\n\r\n".encode("latin-1"))  # '³'.isdigit() is True
    written = core.written()
    assert status_of(written) == 400 and b"bad authority" in written
    assert not of(core.last, c.Log) or all(x.level < logging.ERROR for x in of(core.last, c.Log))


def test_a_whole_oversized_head_in_one_read_is_431_and_never_reaches_the_app():
    core = make_core()
    cmds = core.send(b"GET / HTTP/1.1\r\nHost: web\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert not of(cmds, c.OpenUpstream)
    assert status_of(core.written()) == 431
    assert of(cmds, c.CloseClient)


def test_a_head_growing_over_reads_is_431_counting_the_first_read():
    core = make_core()
    core.send(b"GET / HTTP/1.1\r\nHost: web\r\nX-Big: " + b"a" * 40_000)
    assert not core.written()
    cmds = core.send(b"a" * 30_000)
    assert status_of(core.written()) == 431 and of(cmds, c.CloseClient)


def test_too_many_header_fields_is_431():
    core = make_core()
    core.send(b"GET / HTTP/1.1\r\nHost: web\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n")
    assert status_of(core.written()) == 431


def test_a_stalled_head_is_408_after_the_head_timeout_and_an_idle_connection_is_not():
    core = make_core()
    timers = of(core.last, c.SetTimer)
    assert timers  # the one timer of the connection
    core.send(b"GET / HTTP/1.1\r\nHo")
    core.clock.now += 31
    cmds = core(ev.DeadlineReached())
    assert status_of(core.written()) == 408 and of(cmds, c.CloseClient)
    idle = make_core()
    idle.clock.now += 31
    assert not of(idle(ev.DeadlineReached()), c.CloseClient)


def test_an_idle_keep_alive_is_closed_after_the_idle_timeout():
    core = make_core()
    core.send(GET)
    up = core.connect()
    core(ev.UpstreamData(up, OK))
    core.clock.now += 299
    assert not of(core(ev.DeadlineReached()), c.CloseClient)
    core.clock.now += 200
    cmds = core(ev.DeadlineReached())
    assert of(cmds, c.CloseClient) and not core.written()


def test_a_stalled_body_is_408_after_the_body_timeout():
    core = make_core()
    core.send(b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 10\r\n\r\nabc")
    up = core.connect()
    core.clock.now += 61
    cmds = core(ev.DeadlineReached())
    assert status_of(core.written()) == 408 and of(cmds, c.CloseClient)
    assert c.CloseUpstream(up, abort=True) in cmds


def test_no_response_head_before_the_request_timeout_is_504():
    core = make_core(web_config(WEB_A, request_timeout_ms=300))
    core.send(GET)
    up = core.connect()
    at = of(core.last, c.SetTimer)[-1].at
    assert at == core.clock.now + 0.3
    core.clock.now = at
    cmds = core(ev.DeadlineReached())
    assert status_of(core.written()) == 504 and c.CloseUpstream(up, abort=True) in cmds
    assert of(cmds, c.Log) and of(cmds, c.Log)[0].key == "504"  # logged (the shell rate-limits it)
    assert not of(cmds, c.CloseClient)  # the connection keeps serving
    core.send(GET)
    assert of(core.last, c.OpenUpstream)


def test_a_reused_connection_closed_before_a_response_is_retried_once_on_a_new_one():
    core = make_core()
    core.send(GET)
    stale = core.connect(reused=True, served=3)
    cmds = core(ev.UpstreamClosed(stale))
    retry = core.attempt()
    assert retry.number == 2 and not core.written()
    fresh = core.connect()
    assert core.sent_upstream(fresh) == GET
    core(ev.UpstreamData(fresh, OK))
    assert core.written() == OK
    assert not of(cmds, c.WriteClient)


def test_a_new_connection_closed_before_a_response_is_a_503():
    core = make_core()
    core.send(GET)
    up = core.connect()
    core(ev.UpstreamClosed(up))
    assert status_of(core.written()) == 503


def test_a_refused_connect_is_retried_on_the_other_endpoint():
    core = make_core()
    core.send(GET)
    first = core.attempt()
    core(ev.UpstreamConnectFailed(first, ConnectFailure("connect_failed", "refused")))
    second = core.attempt()
    assert second.number == 2 and second.target.key != first.target.key
    assert {second.target.address, first.target.address} == {WEB_A.address, WEB_B.address}
    up = core.connect()
    core(ev.UpstreamData(up, OK))
    assert core.written() == OK


def test_a_refused_connect_to_the_only_endpoint_is_tried_once_more_then_503():
    core = make_core(web_config(WEB_A))
    core.send(GET)
    first = core.attempt()
    core(ev.UpstreamConnectFailed(first, ConnectFailure("connect_failed", "upstream unreachable: refused")))
    second = core.attempt()
    assert second.target.key == first.target.key and second.number == 2
    core(ev.UpstreamConnectFailed(second, ConnectFailure("connect_failed", "upstream unreachable: refused")))
    written = core.written()
    assert status_of(written) == 503 and b"refused" in written
    assert core.errors("connect_failed") == 1


def test_a_tls_failure_is_not_retried():
    core = make_core()
    core.send(GET)
    failure = ConnectFailure("connect_failed", "peer identity rejected", retryable=False)
    core(ev.UpstreamConnectFailed(core.attempt(), failure))
    assert status_of(core.written()) == 503 and not of(core.last, c.OpenUpstream)


def test_no_retry_after_the_request_deadline():
    core = make_core(web_config(WEB_A, request_timeout_ms=1000))
    core.send(GET)
    first = core.attempt()
    core.clock.now += 2
    core(ev.UpstreamConnectFailed(first, ConnectFailure("connect_timeout", "connect timeout", 504)))
    assert status_of(core.written()) == 504


def test_flow_control_both_ways_on_a_large_body():
    core = make_core()
    core.send(b"POST /up HTTP/1.1\r\nHost: web\r\nContent-Length: 1000000\r\n\r\n")
    attempt = core.attempt()
    cmds = core.send(b"x" * 300_000)  # held until the upstream is there, then the client waits
    assert c.PAUSE_CLIENT in cmds
    up = Upstream(attempt.target.key)
    cmds = core(ev.UpstreamConnected(attempt, up, False))
    assert len(core.sent_upstream(up)) > 300_000 and c.RESUME_CLIENT in cmds
    assert c.PAUSE_CLIENT in core(ev.UpstreamWritable(up, False))  # upstream full: stop reading the client
    assert c.RESUME_CLIENT in core(ev.UpstreamWritable(up, True))
    core.send(b"y" * 700_000)
    core(ev.UpstreamData(up, b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"z" * 50_000))
    assert c.PauseUpstream(up) in core(ev.ClientWritable(False))  # client full: stop reading the upstream
    assert c.ResumeUpstream(up) in core(ev.ClientWritable(True))
    core(ev.UpstreamData(up, b"z" * 50_000))
    assert c.ReleaseUpstream(up) in core.last


def test_connection_close_from_the_client_does_not_cost_the_upstream_connection():
    core = make_core()
    core.send(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
    up = core.connect()
    assert b"close" not in core.sent_upstream(up).lower()  # hop-by-hop: not forwarded
    cmds = core(ev.UpstreamData(up, OK))
    assert b"connection: close" in core.written()
    assert c.ReleaseUpstream(up) in cmds and up.reusable  # back to the pool, not closed
    assert cmds.index(c.ReleaseUpstream(up)) >= 0 and of(cmds, c.CloseClient)


def test_a_client_gone_mid_request_aborts_its_upstream_and_counts_it():
    core = make_core()
    core.send(GET)
    up = core.connect()
    cmds = core(ev.ClientClosed())
    assert c.CloseUpstream(up, abort=True) in cmds
    assert core.errors("downstream_closed") == 1
    late = Upstream(up.key)
    assert core(ev.UpstreamData(late, OK)) == [c.CloseUpstream(late, abort=False)]


def test_a_malformed_response_is_a_502():
    core = make_core()
    core.send(GET)
    up = core.connect()
    cmds = core(ev.UpstreamData(up, b"NOT HTTP\r\n\r\n"))
    assert status_of(core.written()) == 502 and c.CloseUpstream(up) in cmds


def test_a_connection_made_for_a_client_that_left_goes_to_the_pool():
    core = make_core()
    core.send(GET)
    attempt = core.attempt()
    core(ev.ClientClosed())
    late = Upstream(attempt.target.key)
    cmds = core(ev.UpstreamConnected(attempt, late, False))
    assert cmds == [c.ReleaseUpstream(late)] and late.keep_alive


def test_a_learning_picker_hears_of_the_failed_try_and_of_the_one_that_served():
    cfg = client_config(
        (service("web", 80, "default/web:80"),), (cluster("default/web:80", WEB_A, WEB_B, lb="ewma"),)
    )
    core = make_core(cfg)
    core.send(GET)
    first = core.attempt()
    core(ev.UpstreamConnectFailed(first, ConnectFailure("connect_failed", "refused")))
    up = core.connect()
    core(ev.UpstreamData(up, OK))
    assert core.written() == OK
    runtime = core.conn.router.holder.runtime  # type: ignore[attr-defined]
    picker = runtime.picker(runtime.compiled.clusters["default/web:80"])
    assert picker.in_flight(WEB_A) == 0 and picker.in_flight(WEB_B) == 0  # nothing left counted in flight


def _refused_after_a_swap(*, keep_dead: bool) -> None:
    """A connect to the dead endpoint fails after a new config version was applied (the drill's race)."""
    core = make_core()
    core.send(GET)
    first = core.attempt()
    alive = WEB_B if first.target.address == WEB_A.address else WEB_A
    dead = WEB_A if alive is WEB_B else WEB_B
    holder = core.conn.router.holder  # type: ignore[attr-defined]
    holder.swap(web_config(dead, alive) if keep_dead else web_config(alive), version=2)
    core(ev.UpstreamConnectFailed(first, ConnectFailure("connect_failed", "upstream unreachable: refused")))
    second = core.attempt()
    assert second.number == 2 and second.target.address == alive.address
    up = core.connect()
    core(ev.UpstreamData(up, OK))
    assert core.written() == OK
    assert core.errors("connect_failed") == 0


def test_a_refused_connect_answered_after_its_endpoint_left_the_config_is_retried_on_the_other_one():
    _refused_after_a_swap(keep_dead=False)


def test_a_refused_connect_answered_after_an_unrelated_config_swap_is_retried_on_the_other_endpoint():
    _refused_after_a_swap(keep_dead=True)
