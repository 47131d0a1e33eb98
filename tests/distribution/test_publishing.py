"""What the publisher queues for whom: the synced gate, change detection, versions, memo, overflow."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from smi.distribution import ProxyId, Publisher, canonical
from smi.model import ObjectKey
from smi.proxyconfig import ProxyConfig
from smi.state import Snapshot, Store
from tests.distribution.helpers import names_compiler, pod, service, service_names

WEB = ProxyId("default", "web-1")


def drain(sub: Any) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    while not sub.queue.empty():
        raw = sub.queue.get_nowait()
        out.append(None if raw is None else json.loads(raw))
    return out


def make(store: Store, **kwargs: Any) -> Publisher:
    return Publisher(store=store, compiler=names_compiler, **kwargs)


async def test_nothing_is_sent_before_the_first_sync() -> None:
    store = Store()
    store.apply(pod("web-1"))
    publisher = make(store)
    sub = publisher.subscribe(WEB)
    store.apply(service("a"))
    assert publisher.refresh() == 0
    assert drain(sub) == []
    publisher.mark_synced()
    [message] = drain(sub)
    assert message is not None
    assert message["version"] == 1 and service_names(message) == ["a"]


async def test_a_config_is_sent_only_when_it_changes_with_growing_versions() -> None:
    store = Store()
    store.apply(pod("web-1"))
    publisher = make(store, synced=True)
    sub = publisher.subscribe(WEB)
    assert [m["version"] for m in drain(sub) if m] == [1]
    store.apply(pod("other"))  # a change that does not alter web-1's config
    assert publisher.refresh() == 0
    assert drain(sub) == []
    store.apply(service("a"))
    store.apply(service("b"))
    publisher.refresh()
    [message] = drain(sub)
    assert message is not None
    assert message["version"] == 2 and service_names(message) == ["a", "b"]


async def test_an_unknown_pod_gets_a_silent_stream_then_its_first_config() -> None:
    store = Store()
    publisher = make(store, synced=True)
    sub = publisher.subscribe(WEB)
    publisher.refresh()
    assert drain(sub) == []
    assert not sub.closed
    store.apply(pod("web-1"))
    publisher.refresh()
    [message] = drain(sub)
    assert message is not None and message["config"]["node"]["pod"] == "web-1"


async def test_streams_of_one_pod_share_one_compile_and_a_reconnect_keeps_the_version() -> None:
    calls: list[tuple[int, str]] = []

    def counting(snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None:
        calls.append((snapshot.version, pod))
        return names_compiler(snapshot, namespace=namespace, pod=pod)

    store = Store()
    store.apply(pod("web-1"))
    publisher = Publisher(store=store, compiler=counting, synced=True)
    first = publisher.subscribe(WEB)
    second = publisher.subscribe(WEB)
    store.apply(service("a"))
    publisher.refresh()
    assert calls == [(1, "web-1"), (2, "web-1")]
    assert [m["version"] for m in drain(first) if m] == [1, 2]
    assert [m["version"] for m in drain(second) if m] == [1, 2]
    publisher.unsubscribe(first)
    again = publisher.subscribe(WEB)
    [message] = drain(again)
    assert message is not None and message["version"] == 2  # same content, same version
    assert len(calls) == 2  # memoised for this snapshot version


async def test_a_failing_compile_keeps_the_last_config_and_the_stream() -> None:
    broken = {"on": False}

    def flaky(snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None:
        if broken["on"]:
            raise RuntimeError("compile bug")
        return names_compiler(snapshot, namespace=namespace, pod=pod)

    store = Store()
    store.apply(pod("web-1"))
    publisher = Publisher(store=store, compiler=flaky, synced=True)
    sub = publisher.subscribe(WEB)
    drain(sub)
    broken["on"] = True
    store.apply(service("a"))
    assert publisher.refresh() == 0
    assert drain(sub) == [] and not sub.closed
    assert publisher.metrics.registry.get_sample_value("smi_config_compile_errors_total") == 1
    broken["on"] = False
    store.apply(service("b"))
    publisher.refresh()
    [message] = drain(sub)
    assert message is not None and message["version"] == 2 and service_names(message) == ["a", "b"]


async def test_a_proxy_that_does_not_keep_up_is_closed_and_counted() -> None:
    store = Store()
    store.apply(pod("web-1"))
    publisher = make(store, synced=True, queue_size=2)
    slow = publisher.subscribe(WEB)
    fast = publisher.subscribe(ProxyId("default", "web-1"))
    drain(fast)
    for name in ("a", "b"):
        store.apply(service(name))
        publisher.refresh()
        drain(fast)
    assert slow.closed and slow.overflowed
    assert drain(slow) == [None]  # the backlog is dropped; only the end marker is left
    assert not fast.closed
    assert publisher.metrics.registry.get_sample_value("smi_config_stream_overflows_total") == 1
    publisher.unsubscribe(slow)
    fresh = publisher.subscribe(WEB)
    [message] = drain(fresh)
    assert message is not None and service_names(message) == ["a", "b"]


async def test_hold_keeps_streams_and_only_real_changes_go_out_after_the_resync() -> None:
    store = Store()
    store.apply(pod("web-1"))
    store.apply(service("a"))
    publisher = make(store, synced=True)
    sub = publisher.subscribe(WEB)
    drain(sub)
    publisher.hold()
    # a resync that deletes and re-adds everything: intermediate states are never published
    store.delete(ObjectKey("Service", "default", "a"))
    publisher.refresh()
    store.apply(service("a"))
    publisher.mark_synced()
    assert drain(sub) == []
    assert not sub.closed


def test_the_canonical_encoding_equals_the_contract_codec() -> None:
    store = Store()
    store.apply(pod("web-1"))
    store.apply(service("a"))
    config = names_compiler(store.snapshot(), namespace="default", pod="web-1")
    assert config is not None
    from smi.distribution import canonical
    from smi.proxyconfig import encode

    assert json.loads(canonical(config)) == encode(config)


@pytest.mark.looptime
async def test_status_work_can_wait_until_the_configs_of_a_change_are_pushed(looptime: float) -> None:
    store = Store()
    store.apply(pod("web-1"))
    publisher = make(store, synced=True)
    sub = publisher.subscribe(WEB)
    drain(sub)
    store.apply(service("a"))
    waiter = asyncio.create_task(publisher.wait_published(store.version, within=5))
    done, _ = await asyncio.wait({waiter}, timeout=0.01)
    assert not done  # the change is not pushed yet
    publisher.refresh()
    assert await waiter is True
    assert [service_names(m) for m in drain(sub) if m] == [["a"]]
    # a version nobody publishes: the wait is bounded
    assert await publisher.wait_published(store.version + 1, within=1.0) is False


def test_the_canonical_text_is_the_contract_codec_text_and_shared_parts_are_reused() -> None:
    from smi.proxyconfig import Cluster, Endpoint, OutboundConfig, ProxyNode, encode
    from smi.proxyconfig.canonical import SharedEncodings

    cluster = Cluster(
        name="default/a:80", namespace="default", service="a", port=80, endpoints=(Endpoint("10.0.0.1", 8080),)
    )
    node = ProxyNode(namespace="default", pod="web-1", service_account="web", identity="spiffe://x/ns/default/sa/web")
    shared = SharedEncodings()
    first = ProxyConfig(node=node, outbound=OutboundConfig(clusters=(cluster,)))
    expected = json.dumps(encode(first), sort_keys=True, separators=(",", ":"))
    assert canonical(first, shared=shared) == expected
    shared.advance()  # the next refresh: the cluster's text is taken over, still exact
    second = ProxyConfig(node=node, trust_domain="other.domain", outbound=OutboundConfig(clusters=(cluster,)))
    assert canonical(second, shared=shared) == json.dumps(encode(second), sort_keys=True, separators=(",", ":"))
