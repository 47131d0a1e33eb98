"""The sidecar's own admin listener and metrics text (no web framework, no prometheus_client).

The text must be what ``prometheus_client`` printed before (the local runtime's dashboard,
``smi status`` and Prometheus parse it), so it is compared with the library's output.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from proxy.admin import MAX_REQUEST, start_admin
from proxy.exposition import Registry, format_value, render
from proxy.holder import ConfigHolder
from proxy.identity.inbound import InboundStats
from proxy.identity.metrics import TlsMetricsCollector
from proxy.metrics import Metrics, MetricsCollector
from tests.proxy.harness import client_config

LABELS: Any = (
    "outbound", "shop", "web", "spiffe://cluster.local/ns/shop/sa/web", "shop", "api", "api-v1",
    'spiffe://cluster.local/ns/shop/sa/api', 'shop/split "a"\\b\nc', "api-v1", "true",
)  # fmt: skip


class Outbound:
    tls_opened = 3
    tls_resumed = 2
    tls_failures = collections.Counter({"identity_rejected": 1})


class Manager:
    class current:
        not_after = datetime.datetime(2031, 5, 4, 3, 2, 1, tzinfo=datetime.UTC)

    renewals = 4
    failures = 1


def busy_metrics() -> Metrics:
    metrics = Metrics()
    edge = metrics.edge(LABELS)
    edge.requests = 12
    edge.request_bytes = 3400
    edge.response_bytes = 1_234_567_890
    for status, seconds in ((200, 0.0004), (200, 0.02), (503, 2.0), (404, 30.0)):
        edge.response(status, seconds)
    edge.error("timeout")
    edge.error("upstream_refused")
    edge.denied = 2
    tcp = metrics.edge(("inbound", *LABELS[1:]))
    tcp.tcp_opened, tcp.tcp_closed, tcp.tcp_sent, tcp.tcp_received = 5, 4, 100, 2_000_000
    metrics.config_version = 1_712_345_678
    metrics.config_updates = 2
    return metrics


def collectors(metrics: Metrics) -> list[Any]:
    stats = InboundStats()
    for what in ("mtls_accepted", "mtls_accepted", "plaintext_accepted", "unknown_ca"):
        stats.count(what)
    tls = TlsMetricsCollector(mode="permissive", inbound=stats, outbound=Outbound(), manager=Manager())  # type: ignore[arg-type]
    return [MetricsCollector(metrics), tls]


def ours(metrics: Metrics) -> bytes:
    registry = Registry()
    for c in collectors(metrics):
        registry.register(c)
    return registry.render()


def theirs(metrics: Metrics) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors(metrics):
        registry.register(c)
    return generate_latest(registry)


def families(text: bytes) -> list[tuple[str, str, list[tuple[str, dict[str, str], float]]]]:
    return [
        (f.name, f.type, [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(text.decode())
    ]


@pytest.mark.parametrize("metrics", [Metrics(), busy_metrics()], ids=["empty", "busy"])
def test_metrics_text_is_what_prometheus_client_printed(metrics: Metrics) -> None:
    text = ours(metrics)
    assert text == theirs(metrics)
    parsed = families(text)
    assert parsed == families(theirs(metrics))
    assert {name for name, _, _ in parsed} >= {"smi_requests", "smi_request_duration_seconds", "smi_mtls_mode"}


def test_histogram_and_escaping_survive_a_parser() -> None:
    parsed = {name: samples for name, _, samples in families(ours(busy_metrics()))}
    buckets = [s for s in parsed["smi_request_duration_seconds"] if s[0].endswith("_bucket")]
    assert [s[2] for s in buckets][-1] == 4.0  # cumulative, +Inf counts all
    assert buckets[0][1]["le"] == "0.0005" and buckets[0][2] == 1.0
    assert buckets[-1][1]["le"] == "+Inf"
    count = next(s for s in parsed["smi_request_duration_seconds"] if s[0].endswith("_count"))
    assert count[2] == 4.0
    route = parsed["smi_requests"][0][1]["route"]
    assert route == 'shop/split "a"\\b\nc'
    assert parsed["smi_config_version"][0][2] == 1_712_345_678


def test_value_formatting_matches_go() -> None:
    assert [format_value(v) for v in (0, 1, 0.5, 1e6, 1_712_345_678.5, float("inf"), float("nan"))] == [
        "0.0", "1.0", "0.5", "1e+06", "1.7123456785e+09", "+Inf", "NaN",
    ]  # fmt: skip
    assert render([]) == b""


def test_registry_lookups_like_prometheus_client() -> None:
    registry = Registry()
    for c in collectors(busy_metrics()):
        registry.register(c)
    assert registry.get_sample_value("smi_inbound_tls_connections_total", {"result": "mtls_accepted"}) == 2
    assert registry.get_sample_value("smi_mtls_mode", {"mode": "permissive"}) == 1
    assert registry.get_sample_value("smi_inbound_plaintext_connections_total") == 1
    assert registry.get_sample_value("smi_mtls_mode", {"mode": "nope"}) is None


# --- the admin listener over a real socket -------------------------------------------------


@pytest.fixture
async def admin() -> AsyncIterator[tuple[int, ConfigHolder, list[str | None]]]:
    metrics = busy_metrics()
    holder = ConfigHolder(metrics)
    registry = Registry()
    for c in collectors(metrics):
        registry.register(c)
    reason: list[str | None] = [None]
    server = await start_admin("127.0.0.1", 0, holder=holder, registry=registry, not_ready=lambda: reason[0])
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, holder, reason
    finally:
        server.close()
        await server.wait_closed()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        data = await asyncio.wait_for(reader.read(), 10)  # the server closes after one answer
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: admin\r\n\r\n".encode()


async def test_ready_live_config_and_metrics(admin: tuple[int, ConfigHolder, list[str | None]]) -> None:
    port, holder, reason = admin
    assert (await exchange(port, get("/live")))[0] == 200
    status, _, body = await exchange(port, get("/ready"))
    assert (status, body) == (503, b"not ready: no config from the control plane yet\n")
    status, headers, body = await exchange(port, get("/config"))
    assert status == 503 and json.loads(body) == {"version": None, "config": None}
    assert headers["content-type"].startswith("application/json")

    holder.swap(client_config((), ()), version=9)
    status, _, body = await exchange(port, get("/ready?verbose=1"))
    assert (status, body) == (200, b"ready: config version 9\n")
    reason[0] = "no workload certificate yet"
    assert (await exchange(port, get("/ready")))[2] == b"not ready: no workload certificate yet\n"
    status, _, body = await exchange(port, get("/config"))
    dump = json.loads(body)
    assert status == 200 and dump["version"] == 9 and dump["config"]["node"]["pod"] == "client-pod"

    status, headers, body = await exchange(port, get("/metrics"))
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert int(headers["content-length"]) == len(body)
    assert {f.name for f in text_string_to_metric_families(body.decode())} >= {"smi_requests", "smi_config_version"}


async def test_bad_requests_get_clear_answers(admin: tuple[int, ConfigHolder, list[str | None]]) -> None:
    port, _, _ = admin
    status, _, body = await exchange(port, get("/nope"))
    assert (status, body) == (404, b"not found: /nope\n")
    status, headers, _ = await exchange(port, get("/metrics", "POST"))
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, body = await exchange(port, get("/live", "HEAD"))
    assert status == 200 and headers["content-length"] == "5" and body == b""
    assert (await exchange(port, b"this is not http\r\n\r\n"))[0] == 400
    huge = b"GET /live HTTP/1.1\r\nX-Big: " + b"a" * (MAX_REQUEST + 1) + b"\r\n\r\n"
    assert (await exchange(port, huge))[0] == 431
    # the listener is still fine afterwards
    assert (await exchange(port, get("/live")))[0] == 200
