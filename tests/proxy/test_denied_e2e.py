"""Deny-by-default at the caller's own sidecar: a mesh service no TrafficTarget lets this
identity reach (``OutboundConfig.denied``) gets 403 with ``x-smi-denied-by: source`` and a
reason naming the caller; a name that is no mesh service keeps 404; a TCP forward to a
denied service is closed.  Each refusal is counted as denied on the edge to that service.
"""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp

from proxy.compiled import DeniedService, compile_config
from proxy.running import Proxy
from proxy.settings import Forward
from smi.proxyconfig import DeniedNamespace, DeniedServices, ProxyConfig
from tests.proxy.harness import CLIENT_ID, client_config, cluster, ep, proxy_url, running_proxy, service

BOOKSTORE = DeniedService("bookstore", "bookstore", "10.96.0.20")
LOCAL_DB = DeniedService("default", "db")  # headless: no cluster IP


def with_denied(config: ProxyConfig, *denied: DeniedService, cluster_domain: str = "cluster.local") -> ProxyConfig:
    groups = tuple(
        DeniedNamespace(
            ns,
            tuple(d.name for d in denied if d.namespace == ns),
            tuple(d.cluster_ip for d in denied if d.namespace == ns),
        )
        for ns in sorted({d.namespace for d in denied})
    )
    outbound = dataclasses.replace(config.outbound, denied=DeniedServices(cluster_domain, groups))
    return dataclasses.replace(config, outbound=outbound)


async def get(proxy: Proxy, url: str) -> tuple[int, str, str | None]:
    async with aiohttp.ClientSession() as s, s.get(url, proxy=proxy_url(proxy)) as r:
        return r.status, await r.text(), r.headers.get("x-smi-denied-by")


def denied_count(proxy: Proxy, namespace: str, name: str) -> int:
    return sum(
        s.denied for labels, s in proxy.metrics.edges.items()
        if labels[0] == "outbound" and labels[3] == CLIENT_ID and labels[4:6] == (namespace, name)
    )  # fmt: skip


async def test_a_denied_service_gets_403_from_the_callers_sidecar_and_an_unknown_host_404(backends) -> None:
    web = await backends("web")
    config = with_denied(
        client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(web)),)),
        BOOKSTORE,
        LOCAL_DB,
        DeniedService("default", "web"),  # never both in a compiled config; if so, the allowed service wins
    )
    async with running_proxy(config, inbound=None) as client:
        assert (await get(client, "http://web/ok"))[0] == 200
        for url in (
            "http://bookstore.bookstore/books",
            "http://bookstore.bookstore.svc:8080/books",
            "http://BookStore.bookstore.svc.cluster.local./books",
            "http://10.96.0.20/books",
        ):
            status, text, by = await get(client, url)
            assert (status, by) == (403, "source"), url
            assert text.strip() == f"no TrafficTarget allows {CLIENT_ID} to reach bookstore.bookstore"
        assert denied_count(client, "bookstore", "bookstore") == 4
        # the bare name only resolves in the service's own namespace, as the compile's hostnames do
        status, text, by = await get(client, "http://bookstore/books")
        assert (status, by) == (404, None) and "no route" in text
        assert (await get(client, "http://db/x"))[0:3:2] == (403, "source")
        assert denied_count(client, "default", "db") == 1
        status, text, by = await get(client, "http://nothing.default/")
        assert (status, by) == (404, None) and "no route: no mesh service answers to nothing.default:80" in text
        assert client.metrics.error_total("no_route") == 2
        assert web.count() == 1


async def test_a_tcp_forward_to_a_denied_service_is_closed_and_counted() -> None:
    config = with_denied(client_config((), ()), LOCAL_DB)
    forward = Forward(("127.0.0.1", 0), "default", "db", 5432)
    async with running_proxy(config, inbound=None, outbound=None, forwards=(forward,)) as client:
        reader, writer = await asyncio.open_connection(*client.addresses["forward:db.default:5432"])
        writer.write(b"SELECT 1")
        try:
            answer = await asyncio.wait_for(reader.read(), 10)
        except ConnectionResetError:
            answer = b""
        writer.close()
        assert answer == b""
        assert denied_count(client, "default", "db") == 1


def test_denied_hostnames_follow_the_callers_namespace_and_the_cluster_domain() -> None:
    config = with_denied(client_config((), ()), BOOKSTORE, LOCAL_DB, cluster_domain="mesh.example")
    denied = compile_config(config).denied
    assert denied["db"] == LOCAL_DB and denied["db.default.svc.mesh.example"] == LOCAL_DB
    assert denied["10.96.0.20"] == BOOKSTORE and "bookstore" not in denied
    assert "bookstore.bookstore.svc.cluster.local" not in denied


def test_a_denied_list_with_mismatched_cluster_ips_keeps_the_names_and_says_why() -> None:
    config = client_config((), ())
    broken = DeniedServices("cluster.local", (DeniedNamespace("shop", ("a", "b"), ("10.96.0.1",)),))
    compiled = compile_config(dataclasses.replace(config, outbound=dataclasses.replace(config.outbound, denied=broken)))
    assert set(compiled.denied) >= {"a.shop", "b.shop.svc"} and "10.96.0.1" not in compiled.denied
    assert compiled.problems == [
        "denied services of namespace shop: 1 cluster IPs for 2 names; the cluster IPs are ignored"
    ]
