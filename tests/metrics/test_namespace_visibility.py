"""The map's data carries the API's authorization: a namespace a user may not read is not shown to them.

Real TLS and the front-proxy certificate as in test_security; kmock answers the
SubjectAccessReviews per namespace.  ``jane`` may read namespace ``shop`` only (get the
namespace's metrics, list its deployments); ``ops`` (group ``admins``) may read everything.
The mesh: ``buyer`` in shop calls ``web`` in shop and ``vault-api`` in namespace vault.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from aiohttp import web

from tests.metrics.synthetic import edge, row
from tests.metrics.test_security import SARS, call, pki
from tests.metrics.test_server import FixedSource
from traffic_metrics.kube import Kube
from traffic_metrics.query import WindowData
from traffic_metrics.security import Authorizer, load_request_header_config, server_ssl_context
from traffic_metrics.server import MetricsApi, make_app
from traffic_metrics.topology import PodInfo, Topology

__all__ = ["pki"]  # the fixture, used by name

BASE = "/apis/metrics.smi-spec.io/v1alpha1"
JANE = {"X-Remote-User": "jane"}
OPS = {"X-Remote-User": "ops", "X-Remote-Group": "admins"}
GRANTS = {("jane", "namespaces", "", "shop", "get"), ("jane", "deployments", "", "shop", "list"),
          ("jane", "deployments", "edges", "shop", "get")}  # fmt: skip


def mesh() -> tuple[Topology, WindowData]:
    topo = Topology(
        pods=[
            PodInfo("shop", "buyer-1", {"app": "buyer"}, "Deployment", "buyer", "buyer"),
            PodInfo("shop", "web-1", {"app": "web"}, "Deployment", "web", "web"),
            PodInfo("vault", "vault-api-1", {"app": "vault-api"}, "Deployment", "vault-api", "vault-api"),
        ],
        namespaces=[("shop", {}), ("vault", {})],
    )
    data = WindowData(when=1_700_000_000, window=30)
    data.rows[("shop", "buyer-1")] = {
        edge("outbound", ("shop", "buyer"), ("shop", "web")): row(10),
        edge("outbound", ("shop", "buyer"), ("vault", "vault-api"), service="vault-api"): row(4),
    }
    data.rows[("vault", "vault-api-1")] = {
        edge("inbound", ("shop", "buyer"), ("vault", "vault-api"), service="vault-api"): row(4)
    }
    return topo, data


@pytest.fixture
async def secured(kmock: kmock.KubernetesEmulator, pki: dict[str, Path]) -> AsyncIterator[str]:
    configmap = {"kind": "ConfigMap", "data": {"requestheader-client-ca-file": pki["front-ca.crt"].read_text(),
                                               "requestheader-allowed-names": '["front-proxy-client"]'}}  # fmt: skip
    kmock["get /api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"] << configmap

    def review(request: Any) -> dict[str, Any]:
        for key in list(kmock.objects):
            if key[0] == SARS:
                del kmock.objects[key]
        spec = request.data["spec"]
        attrs = spec.get("resourceAttributes") or {}
        wanted = (spec["user"], attrs.get("resource"), attrs.get("subresource"), attrs.get("namespace"),
                  attrs.get("verb"))  # fmt: skip
        allowed = wanted in GRANTS or "admins" in spec.get("groups", [])
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec,
                "status": {"allowed": allowed}}  # fmt: skip

    kmock.resources["authorization.k8s.io/v1/subjectaccessreviews"] = {"kind": "SubjectAccessReview",
                                                                       "namespaced": False}  # fmt: skip
    kmock["post", SARS] << review
    kube = Kube(url=str(kmock.url).rstrip("/"))
    config = await load_request_header_config(kube)
    topo, data = mesh()
    authorizer = Authorizer(kube, config)
    app = make_app(MetricsApi(topology=lambda: topo, source=FixedSource(data), authorize=authorizer,
                              permits=authorizer.permits))  # fmt: skip
    runner = web.AppRunner(app)
    await runner.setup()
    context = server_ssl_context(str(pki["tls.crt"]), str(pki["tls.key"]), config)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"https://localhost:{port}"
    await runner.cleanup()


def names(body: dict[str, Any]) -> list[str]:
    return sorted(f"{i['resource'].get('namespace', '')}/{i['resource']['name']}" for i in body["items"])


def peers(body: dict[str, Any]) -> list[str]:
    """The other ends (both sides of an edge name the same peer)."""
    return sorted({f"{i['edge']['resource'].get('namespace', '')}/{i['edge']['resource']['name']}"
                   for i in body["items"]})  # fmt: skip


async def test_the_namespaces_list_shows_only_the_namespaces_the_user_may_read(
    secured: str, pki: dict[str, Path]
) -> None:
    status, body = await call(secured + f"{BASE}/namespaces", pki, "aggregator", OPS)
    assert status == 200 and names(body) == ["/shop", "/vault"]
    status, body = await call(secured + f"{BASE}/namespaces", pki, "aggregator", JANE)
    assert status == 200 and names(body) == ["/shop"]


async def test_a_list_across_namespaces_shows_only_what_the_user_may_list(secured: str, pki: dict[str, Path]) -> None:
    status, body = await call(secured + f"{BASE}/deployments", pki, "aggregator", OPS)
    assert status == 200 and names(body) == ["shop/buyer", "shop/web", "vault/vault-api"]
    status, body = await call(secured + f"{BASE}/deployments", pki, "aggregator", JANE)
    assert status == 200 and names(body) == ["shop/buyer", "shop/web"]
    status, body = await call(secured + f"{BASE}/namespaces/vault/deployments", pki, "aggregator", JANE)
    assert status == 403  # asked by name, the namespace stays forbidden


async def test_edges_to_a_namespace_the_user_may_not_read_are_left_out(secured: str, pki: dict[str, Path]) -> None:
    path = f"{BASE}/namespaces/shop/deployments/buyer/edges"
    status, body = await call(secured + path, pki, "aggregator", OPS)
    assert status == 200 and peers(body) == ["shop/web", "vault/vault-api"]
    status, body = await call(secured + path, pki, "aggregator", JANE)
    assert status == 200 and peers(body) == ["shop/web"]
