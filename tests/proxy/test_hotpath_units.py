"""The hot path's shortcuts keep the proxy's behaviour: one lazy deadline timer per connection,
responses joined into few writes but still streamed, per-config caches of routes, targets
and access rules, the single-pass header cleaner."""

from __future__ import annotations

import asyncio

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from proxy.authz import Allow, Deny, authorize_request
from proxy.balancing import EwmaLeastLoaded
from proxy.compiled import compile_config
from proxy.headers import HOP_BY_HOP, RequestHead, clean_headers
from proxy.holder import ConfigHolder
from proxy.metrics import Metrics
from proxy.outbound import OutboundRouter
from proxy.runtime import ConfigRuntime
from proxy.targets import LocalReply
from smi.proxyconfig import AllowRule, Endpoint, HttpMatch, InboundConfig, InboundPort, ProxyConfig, ProxyNode
from tests.proxy.harness import client_config, cluster, ep, proxy_url, running_proxy, service, wait_until

A = "spiffe://cluster.local/ns/default/sa/a"
B = "spiffe://cluster.local/ns/default/sa/b"


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[bytes, bytes]:
    """One request on an open keep-alive connection -> (head, body) of a content-length response."""
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await asyncio.wait_for(reader.readexactly(length), 10)


async def test_timeouts_on_one_keep_alive_connection_follow_each_requests_own_deadline(backends):
    """A 60 s request then a 300 ms one on one connection: the second still times out (504),
    and the connection keeps serving afterwards."""
    web = await backends("web")
    slow = await backends("slow", "127.0.0.22")
    cfg = client_config(
        (service("web", 80, "default/web:80"), service("slow", 80, "default/slow:80")),
        (cluster("default/web:80", ep(web)), cluster("default/slow:80", ep(slow), request_timeout_ms=300)),
    )
    async with running_proxy(cfg) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.addresses["outbound"])
        for i in range(5):
            head, body = await _exchange(reader, writer, b"GET /a%d HTTP/1.1\r\nHost: web\r\n\r\n" % i)
            assert head.startswith(b"HTTP/1.1 200") and body == b"web GET /a%d 0" % i
        head, body = await _exchange(reader, writer, b"GET /hold HTTP/1.1\r\nHost: slow\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 504")
        assert b"upstream timeout" in body
        head, body = await _exchange(reader, writer, b"GET /after HTTP/1.1\r\nHost: web\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and body == b"web GET /after 0"
        writer.close()
        assert proxy.metrics.error_total("timeout") == 1


async def _streaming_origin(release: asyncio.Event) -> tuple[asyncio.Server, int]:
    """Answers every request with a chunked response: the first chunk, then the rest on ``release``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"4\r\nlast\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.23", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_streamed_response_reaches_the_client_before_the_upstream_finishes():
    release = asyncio.Event()
    server, port = await _streaming_origin(release)
    origin = Endpoint("127.0.0.23", port, pod="stream-pod", namespace="default", workload="stream")
    cfg = client_config((service("stream", 80, "default/stream:80"),), (cluster("default/stream:80", origin),))
    try:
        async with running_proxy(cfg) as proxy:
            reader, writer = await asyncio.open_connection(*proxy.addresses["outbound"])
            writer.write(b"GET /events HTTP/1.1\r\nHost: stream\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200")
            # the first chunk arrives while the origin still holds the rest back
            assert await asyncio.wait_for(reader.readuntil(b"first\r\n"), 10) == b"5\r\nfirst\r\n"
            release.set()
            assert await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 10) == b"4\r\nlast\r\n0\r\n\r\n"
            writer.close()
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_a_new_config_is_used_by_an_open_keep_alive_connection(backends):
    """Routers cache targets per config: a swapped config sends the next request to the new
    endpoint, and its metrics go to the new edge."""
    v1 = await backends("v1")
    v2 = await backends("v2", "127.0.0.22")
    cfg1 = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(v1)),))
    cfg2 = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(v2)),))
    async with running_proxy(cfg1) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.addresses["outbound"])
        _, body = await _exchange(reader, writer, b"GET /one HTTP/1.1\r\nHost: web\r\n\r\n")
        assert body == b"v1 GET /one 0"
        proxy.holder.swap(cfg2, version=2)
        _, body = await _exchange(reader, writer, b"GET /two HTTP/1.1\r\nHost: WEB.default:80\r\n\r\n")
        assert body == b"v2 GET /two 0"
        writer.close()
        by_workload = {labels[6]: stats.requests for labels, stats in proxy.metrics.edges.items() if stats.requests}
        assert by_workload == {"v1": 1, "v2": 1}


async def test_ewma_endpoints_still_learn_from_every_response(backends):
    """Targets are shared between requests; each request still reports its outcome once."""
    a = await backends("a")
    b = await backends("b", "127.0.0.22")
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(a), ep(b), lb="ewma"),))
    async with running_proxy(cfg) as proxy:
        async with aiohttp.ClientSession() as s:
            for i in range(20):
                async with s.get(f"http://web/{i}", proxy=proxy_url(proxy)) as r:
                    assert r.status == 200
                    await r.read()
        cc = proxy.holder.current
        assert cc is not None
        state = cc.clusters["default/web:80"]
        assert proxy.holder.runtime is not None
        picker = proxy.holder.runtime.picker(state)
        assert isinstance(picker, EwmaLeastLoaded)
        await wait_until(lambda: all(picker.in_flight(e) == 0 for e in state.cluster.endpoints), what="in flight 0")
        assert a.count() + b.count() == 20 and a.count() and b.count()


def test_round_robin_clusters_skip_the_feedback_call():
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80"),))
    cc = compile_config(cfg)
    assert ConfigRuntime(cc).feedback(cc.clusters["default/web:80"]) is None


def test_authority_cache_is_bounded_and_keeps_answers_right():
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80"),))
    metrics = Metrics()
    holder = ConfigHolder(metrics)
    holder.swap(cfg, version=1)
    router = OutboundRouter(holder=holder, metrics=metrics)
    head = RequestHead("GET", "/", [])
    name = "web.default.svc.cluster.local"
    for i in range(3000):
        # distinct spellings of one host: every one is a valid authority for the service
        spelled = "".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate(name))
        decision = router.decide(head, spelled.encode())
        assert isinstance(decision, LocalReply) and decision.status == 503  # known service, no endpoints
    assert holder.runtime is not None and len(holder.runtime.authorities) <= 4096
    unknown = router.decide(head, b"nowhere:80")
    assert isinstance(unknown, LocalReply) and unknown.status == 404
    wrong_port = router.decide(head, b"web:81")
    assert isinstance(wrong_port, LocalReply) and wrong_port.status == 404


def _inbound(rules: tuple[AllowRule, ...], ports: tuple[int, ...] = (8080, 9090)) -> ProxyConfig:
    return ProxyConfig(
        node=ProxyNode("default", "p", "sa", "spiffe://cluster.local/ns/default/sa/sa"),
        inbound=InboundConfig(ports=tuple(InboundPort(p, "http", "") for p in ports), rules=rules),
    )


def test_cached_access_rules_answer_per_caller_and_port():
    only_get = (HttpMatch("get", methods=("GET",)),)
    rules = (
        AllowRule("a-gets-8080", (A,), "http", (8080,), only_get),
        AllowRule("a-tcp-9090", (A,), "tcp", (9090,)),
        AllowRule("b-anything", (B,), "http", (), None),
    )
    inbound = compile_config(_inbound(rules)).inbound
    get, post = RequestHead("GET", "/", []), RequestHead("POST", "/", [])

    def decide(identity: str, port: int, head: RequestHead) -> str:
        decision = authorize_request(identity=identity, address="127.0.0.1", port=port, head=head, inbound=inbound)
        return decision.rule if isinstance(decision, Allow) else "denied"

    for _ in range(2):  # the second round answers from the cache
        assert decide(A, 8080, get) == "a-gets-8080"
        assert decide(A, 8080, post) == "denied"
        assert decide(A, 9090, post) == "a-tcp-9090"
        assert decide(B, 8080, post) == "b-anything"
        assert decide(B, 9090, get) == "b-anything"
        assert decide("spiffe://cluster.local/ns/default/sa/c", 8080, get) == "denied"
    # a new config brings its own rules: nothing cached from the old one applies
    strict = compile_config(_inbound((AllowRule("b-only", (B,), "http", (8080,), None),))).inbound
    denied = authorize_request(identity=A, address="127.0.0.1", port=8080, head=get, inbound=strict)
    assert isinstance(denied, Deny) and A in denied.reason


def _reference_clean(raw: list[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], object, object, bool, object]:
    """RFC 9110 section 7.6.1, written plainly: what ``clean_headers`` must compute."""
    named = set()
    for name, value in raw:
        if name.lower() == b"connection":
            named |= {t.strip() for t in value.lower().split(b",")} - {b"", b"close", b"keep-alive", b"upgrade"}
    kept = [(n, v) for n, v in raw if n.lower() not in HOP_BY_HOP and n.lower() not in named]
    host = length = upgrade = None
    chunked = False
    for name, value in raw:
        lname = name.lower()
        if lname == b"host" and lname not in HOP_BY_HOP:
            host = value
        elif lname == b"content-length":
            length = value
        elif lname == b"transfer-encoding":
            chunked = value.lower().rstrip().endswith(b"chunked")
        elif lname == b"upgrade":
            upgrade = value
    return kept, host, length, chunked, upgrade


_NAMES = st.sampled_from(
    [b"Host", b"host", b"Connection", b"CONNECTION", b"Keep-Alive", b"TE", b"Transfer-Encoding", b"Upgrade",
     b"Proxy-Authorization", b"Content-Length", b"X-Drop", b"x-drop", b"X-Keep", b"Accept", b"Expect"]
)  # fmt: skip
_VALUES = st.sampled_from(
    [b"1", b"x-drop", b"close, X-Drop", b"chunked", b"gzip, chunked", b"websocket", b"keep-alive"]
)


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=8))
def test_single_pass_header_cleaning_matches_the_rule(raw):
    clean = clean_headers(raw)
    kept, host, length, chunked, upgrade = _reference_clean(raw)
    assert clean.headers == kept
    assert (clean.host, clean.content_length, clean.chunked, clean.upgrade) == (host, length, chunked, upgrade)


def test_headers_without_hop_by_hop_ones_are_not_copied():
    raw = [(b"Host", b"web"), (b"Accept", b"*/*")]
    assert clean_headers(raw).headers is raw
