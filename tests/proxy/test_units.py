"""Pure parts without sockets: pickers, PROXY v2, headers, routing, authorization."""

from __future__ import annotations

import heapq
import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy import proxyproto
from proxy.authz import Allow, Deny, authorize_connection, authorize_request
from proxy.balancing import EwmaLeastLoaded, RoundRobin, SmoothWeightedRoundRobin
from proxy.compiled import compile_config
from proxy.headers import RequestHead, clean_headers, parse_authority, split_target
from proxy.routing import route
from proxy.runtime import ConfigRuntime
from smi.proxyconfig import (
    AllowRule,
    Cluster,
    Endpoint,
    HttpMatch,
    InboundConfig,
    InboundPort,
    OutboundConfig,
    OutboundPort,
    OutboundService,
    ProxyConfig,
    ProxyNode,
    SplitRoute,
    WeightedCluster,
)

NODE = ProxyNode("default", "p", "sa", "spiffe://cluster.local/ns/default/sa/sa")
A = "spiffe://cluster.local/ns/default/sa/a"
B = "spiffe://cluster.local/ns/default/sa/b"


def test_smooth_wrr_75_25_is_exactly_3_to_1_in_every_window_of_4():
    picker = SmoothWeightedRoundRobin([("a", 75), ("b", 25)])
    picks = [picker.pick() for _ in range(400)]
    for i in range(0, 400, 4):
        assert Counter(picks[i : i + 4]) == {"a": 3, "b": 1}


def test_smooth_wrr_zero_weight_is_never_picked_and_all_zero_gives_none():
    picker = SmoothWeightedRoundRobin([("a", 1), ("b", 0)])
    assert {picker.pick() for _ in range(50)} == {"a"}
    assert SmoothWeightedRoundRobin([("a", 0)]).pick() is None


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=6))
def test_smooth_wrr_exact_shares_over_one_cycle(weights):
    picker = SmoothWeightedRoundRobin([(i, w) for i, w in enumerate(weights)])
    total = sum(weights)
    picks = Counter(picker.pick() for _ in range(total))
    assert picks == Counter({i: w for i, w in enumerate(weights) if w})


def test_round_robin_and_ewma():
    rr = RoundRobin(["x", "y", "z"])
    assert [rr.pick() for _ in range(6)] == ["x", "y", "z", "x", "y", "z"]
    slow, fast = "slow", "fast"
    ewma = EwmaLeastLoaded([slow, fast])
    for _ in range(4):
        item = ewma.pick()
        assert item is not None
        ewma.done(item, seconds=0.5 if item == slow else 0.001, ok=True)
    assert Counter(ewma.pick() for _ in range(1)) == {fast: 1}


def test_ewma_sends_most_requests_to_the_fast_endpoint_under_concurrent_load():
    """8 requests always in flight (a discrete-event run: each completes after its endpoint's
    latency, 1 ms or 50 ms): the fast endpoint takes nearly all of them, and once both are
    known the slow one is still tried now and then (its score is latency times load)."""
    latency = {"slow": 0.050, "fast": 0.001}
    ewma = EwmaLeastLoaded(list(latency))
    picks: Counter[str] = Counter()
    in_flight: list[tuple[float, int, str]] = []
    now, seq = 0.0, 0

    def start() -> None:
        nonlocal seq
        item = ewma.pick()
        assert item is not None
        picks[item] += 1
        heapq.heappush(in_flight, (now + latency[item], seq, item))
        seq += 1

    for _ in range(8):
        start()
    while sum(picks.values()) < 400:
        now, _, item = heapq.heappop(in_flight)
        ewma.done(item, seconds=latency[item], ok=True)
        start()
    assert picks["fast"] >= 0.95 * 400
    assert picks["slow"] >= 1


def test_proxy_v2_roundtrip_ipv4_and_ipv6():
    data = proxyproto.encode(src_address="127.0.0.11", src_port=40000, dst_address="127.0.0.12", dst_port=8080)
    assert data.startswith(proxyproto.SIGNATURE)
    assert len(data) == 28
    header, used = proxyproto.decode(data + b"GET /") or (None, 0)
    assert used == 28
    assert header == proxyproto.ProxyHeader("127.0.0.11", 40000, "127.0.0.12", 8080)
    v6 = proxyproto.encode(src_address="::1", src_port=1, dst_address="fd00::2", dst_port=443)
    assert proxyproto.decode(v6) == (proxyproto.ProxyHeader("::1", 1, "fd00::2", 443), 52)
    assert proxyproto.decode(data[:10]) is None
    with pytest.raises(proxyproto.ProxyHeaderError):
        proxyproto.decode(b"GET / HTTP/1.1\r\n\r\n")


def test_proxy_header_says_opaque_in_a_custom_tlv_and_other_tlvs_are_skipped() -> None:
    for src, dst in (("127.0.0.11", "127.0.0.12"), ("::1", "127.0.0.12")):
        plain = proxyproto.encode(src_address=src, src_port=40000, dst_address=dst, dst_port=7002)
        marked = proxyproto.mark_opaque(plain)
        header, used = proxyproto.decode(marked + b"\x00binary") or (None, 0)
        assert header is not None and header.dst_port == 7002 and used == len(marked)  # older readers skip it
        assert proxyproto.says_opaque(marked) and not proxyproto.says_opaque(plain)
    plain = proxyproto.encode(src_address="127.0.0.11", src_port=1, dst_address="127.0.0.12", dst_port=2)
    # another TLV first (e.g. a workload claim of type 0xE0): ours is still found
    other = b"\xe0\x00\x07ns/name"
    body = plain[16:] + other
    with_other = plain[:14] + len(body).to_bytes(2, "big") + body
    assert not proxyproto.says_opaque(with_other) and proxyproto.says_opaque(proxyproto.mark_opaque(with_other))
    truncated = plain[:14] + (len(plain[16:]) + 3).to_bytes(2, "big") + plain[16:] + b"\xe1\x00\x06"
    assert not proxyproto.says_opaque(truncated)  # a malformed TLV area says nothing



def test_hop_by_hop_headers_are_removed():
    head = clean_headers(
        [
            (b"Host", b"web"),
            (b"Connection", b"keep-alive, X-Secret"),
            (b"X-Secret", b"1"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Proxy-Authorization", b"Basic x"),
            (b"TE", b"trailers"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Upgrade", b"websocket"),
            (b"X-Kept", b"yes"),
        ]
    )
    assert head.headers == [(b"Host", b"web"), (b"X-Kept", b"yes")]
    assert head.chunked and head.upgrade == b"websocket" and head.host == b"web"


def test_targets_and_authorities():
    assert split_target(b"http://web.default:8080/a/b?c=1") == (b"web.default:8080", b"/a/b?c=1")
    assert split_target(b"http://web") == (b"web", b"/")
    assert split_target(b"/x?y") == (None, b"/x?y")
    assert parse_authority(b"Web.Default.") == ("web.default", 80)
    assert parse_authority(b"web:8080") == ("web", 8080)
    assert parse_authority(b"[::1]:9") == ("::1", 9)
    assert parse_authority(b"web:http") is None


def _outbound(splits):
    ep = Endpoint("127.0.0.1", 1)
    clusters = tuple(Cluster(f"default/{n}:80", "default", n, 80, endpoints=(ep,)) for n in ("web", "v1", "v2"))
    svc = OutboundService("default", "web", ("web",), (OutboundPort(80, "http", "default/web:80", splits),))
    return compile_config(ProxyConfig(NODE, outbound=OutboundConfig((svc,), clusters)))


def test_route_by_match_then_split_then_root():
    canary = SplitRoute(
        "default/canary",
        (WeightedCluster("default/v2:80", 1, "v2"),),
        (HttpMatch("beta", headers=(("x-user", "beta-.*"),)),),
    )
    rest = SplitRoute(
        "default/rest", (WeightedCluster("default/v1:80", 1, "v1"),), (HttpMatch("get", methods=("GET",)),)
    )
    cc = _outbound((canary, rest))
    runtime = ConfigRuntime(cc)
    port = cc.hosts[("web", 80)]
    beta = RequestHead("GET", "/", [(b"x-user", b"beta-7")])
    assert route(beta, port, runtime).backend == "v2"
    assert route(RequestHead("GET", "/", [(b"x-user", b"beta")]), port, runtime).backend == "v1"
    post = route(RequestHead("POST", "/", []), port, runtime)
    assert (post.route, post.backend, post.cluster.cluster.service) == ("", "", "web")


def test_invalid_regex_is_reported_not_fatal():
    bad = SplitRoute("default/bad", (WeightedCluster("default/v1:80", 1),), (HttpMatch("m", path_regex="("),))
    cc = _outbound((bad,))
    assert any("invalid regex" in p for p in cc.problems)
    assert route(RequestHead("GET", "/", []), cc.hosts[("web", 80)], ConfigRuntime(cc)).backend == ""


def _inbound(rules, permissive=False):
    cfg = ProxyConfig(
        NODE, inbound=InboundConfig((InboundPort(80), InboundPort(5432, "tcp")), rules=rules, permissive=permissive)
    )
    return compile_config(cfg).inbound


def test_authorize_http_by_path_method_header_and_tcp_rule():
    rules = (
        AllowRule("t/http", (A,), "http", (80,), (HttpMatch("m", "/api", ("GET",), (("x-ok", "yes"),)),)),
        AllowRule("t/tcp", (B,), "tcp", (5432,)),
    )
    inbound = _inbound(rules)
    ok = RequestHead("GET", "/api/v1", [(b"x-ok", b"yes")])
    assert authorize_request(identity=A, address="", port=80, head=ok, inbound=inbound) == Allow("t/http")
    for head in (
        RequestHead("POST", "/api", [(b"x-ok", b"yes")]),
        RequestHead("GET", "/admin", [(b"x-ok", b"yes")]),
        RequestHead("GET", "/api", [(b"x-ok", b"yess")]),
        RequestHead("GET", "/api", []),
    ):
        decision = authorize_request(identity=A, address="", port=80, head=head, inbound=inbound)
        assert isinstance(decision, Deny)
        assert decision.reason == f"no TrafficTarget allows {A} to {head.method} {head.path}"
    assert isinstance(authorize_request(identity=B, address="", port=80, head=ok, inbound=inbound), Deny)
    assert authorize_connection(identity=B, address="", port=5432, inbound=inbound) == Allow("t/tcp")
    assert isinstance(authorize_connection(identity=A, address="", port=5432, inbound=inbound), Deny)
    nobody = authorize_request(identity=None, address="10.0.0.9", port=80, head=ok, inbound=inbound)
    assert isinstance(nobody, Deny) and "an unidentified caller (10.0.0.9)" in nobody.reason
    assert authorize_request(identity=None, address="", port=80, head=ok, inbound=_inbound((), True)) == Allow("")


def test_ewma_weights_are_statistical_not_starving():
    ewma = EwmaLeastLoaded(["a", "b", "c"])
    counts = Counter()
    for _ in range(300):
        item = ewma.pick()
        counts[item] += 1
        ewma.done(item, seconds=0.01, ok=True)
    assert all(abs(c - 100) <= 3 * math.sqrt(300 / 3) for c in counts.values())
