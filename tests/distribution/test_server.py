"""The config server over real sockets: streams, heartbeats, identity errors, health, metrics, overflow."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp

from smi.distribution import CoalescingSettings, ConfigService, ProxyId, ServerSettings
from smi.model import ObjectKey
from smi.proxyconfig import OutboundConfig, OutboundService, ProxyConfig
from smi.state import Snapshot, Store
from tests.distribution.helpers import StreamClient, names_compiler, pod, service, service_names, wait_until

FAST = CoalescingSettings(window=0.01, max_wait=0.05)


async def test_a_proxy_receives_its_config_and_every_change() -> None:
    store = Store()
    store.apply(pod("web-1"))
    svc = ConfigService(store=store, compiler=names_compiler, coalescing=FAST, synced=True)
    async with svc, StreamClient(svc.url, namespace="default", pod="web-1") as client:
        [first] = await client.wait_configs(1)
        assert first["version"] == 1 and service_names(first) == []
        store.apply(service("a"))
        second = await client.wait_config(lambda m: m["version"] == 2)
        assert service_names(second) == ["a"]
        store.delete(ObjectKey("Service", "default", "a"))
        third = await client.wait_config(lambda m: m["version"] == 3)
        assert service_names(third) == []
        assert [m["version"] for m in client.configs] == [1, 2, 3]


async def test_an_unknown_pod_waits_on_an_open_stream_and_heartbeats_flow() -> None:
    store = Store()
    settings = ServerSettings(heartbeat=0.05)
    async with (
        ConfigService(store=store, compiler=names_compiler, coalescing=FAST, server=settings, synced=True) as svc,
        StreamClient(svc.url, namespace="default", pod="late") as client,
    ):
        await wait_until(lambda: any(m["type"] == "heartbeat" for m in client.messages), what="a heartbeat")
        assert client.configs == []
        store.apply(pod("late"))
        [config] = await client.wait_configs(1)
        assert config["config"]["node"]["pod"] == "late"


async def test_a_request_without_a_valid_identity_is_refused_with_the_reason() -> None:
    svc = ConfigService(store=Store(), compiler=names_compiler, synced=True)
    async with (
        svc,
        aiohttp.ClientSession() as session,
        session.get(f"{svc.url}/v1/config/stream", params={"namespace": "Bad_NS"}) as resp,
    ):
        assert resp.status == 400
        text = await resp.text()
    assert "query parameter namespace: must be a DNS label, got 'Bad_NS'" in text
    assert "query parameter pod" in text


async def test_readiness_follows_the_sync_and_metrics_are_served() -> None:
    store = Store()
    store.apply(pod("web-1"))
    async with (
        ConfigService(store=store, compiler=names_compiler) as svc,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"{svc.url}/healthz") as resp:
            assert resp.status == 200
        async with session.get(f"{svc.url}/readyz") as resp:
            assert resp.status == 503
        async with StreamClient(svc.url, namespace="default", pod="web-1") as client:
            await wait_until(lambda: svc.publisher.connected == 1, what="the stream to register")
            assert client.configs == []
            svc.publisher.mark_synced()
            await client.wait_configs(1)
            async with session.get(f"{svc.url}/readyz") as resp:
                assert resp.status == 200
            async with session.get(f"{svc.url}/metrics") as resp:
                text = await resp.text()
    assert "smi_config_streams 1.0" in text
    assert "smi_config_stream_overflows_total 0.0" in text


def big_compiler(snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None:
    """Stand-in whose configs are ~200 kB and differ at every snapshot version."""
    config = names_compiler(snapshot, namespace=namespace, pod=pod)
    if config is None:
        return None
    filler = OutboundService(
        namespace="default", name=f"filler-{snapshot.version}", hostnames=("x" * 200_000,), ports=()
    )
    return replace(config, outbound=OutboundConfig(services=(filler,)))


async def test_a_stuck_proxy_is_disconnected_without_blocking_the_others() -> None:
    """A client that never reads: its socket fills up, its queue overflows, the stream is cut."""
    store = Store()
    store.apply(pod("web-1"))
    async with ConfigService(store=store, compiler=big_compiler, queue_size=1, synced=True) as svc:
        _, writer = await asyncio.open_connection(svc.host, svc.port)
        writer.write(f"GET /v1/config/stream?namespace=default&pod=web-1 HTTP/1.1\r\nHost: {svc.host}\r\n\r\n".encode())
        await writer.drain()
        await wait_until(lambda: svc.publisher.connected == 1, what="the stuck stream to register")
        [stuck] = svc.publisher._subs[ProxyId("default", "web-1")]
        async with StreamClient(svc.url, namespace="default", pod="web-1") as healthy:
            await wait_until(lambda: svc.publisher.connected == 2, what="the healthy stream to register")
            for i in range(400):  # bounded: loopback buffers hold a few MB, each config is 200 kB
                store.apply(service(f"s{i}"))
                svc.publisher.refresh()
                if stuck.overflowed:
                    break
                try:
                    await wait_until(stuck.queue.empty, within=0.05, what="the stuck handler to take a message")
                except AssertionError:
                    pass  # it is blocked on the full socket; the next change overflows its queue
            assert stuck.overflowed
            assert svc.publisher.metrics.registry.get_sample_value("smi_config_stream_overflows_total") == 1
            await wait_until(lambda: svc.publisher.connected == 1, what="the stuck stream to be dropped")
            last = svc.publisher.issued(ProxyId("default", "web-1"))
            assert last is not None
            await healthy.wait_config(lambda m: m["version"] == last[0], what="the latest config")
        writer.close()
