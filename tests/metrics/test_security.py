"""Cluster security: real TLS, the aggregator's front-proxy certificate, and SubjectAccessReviews from kmock.

kmock's ``KubernetesEmulator`` plays the API server: it serves
kube-system/extension-apiserver-authentication (the requestheader CA) and answers
SubjectAccessReview creates from a table of who may do what, as TokenReview is tested.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from traffic_metrics.kube import Kube
from traffic_metrics.query import Query
from traffic_metrics.security import Authorizer, load_request_header_config, server_ssl_context
from traffic_metrics.server import MetricsApi, make_app

BASE = "/apis/metrics.smi-spec.io/v1alpha1"
SARS = kmock.resource("authorization.k8s.io", "v1", "subjectaccessreviews")
ALLOWED = {("jane", "deployments", "", "shop", "list"), ("jane", "deployments", "edges", "shop", "get")}


def _cert(name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False,
          san: str | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    front_ca, front_ca_key = _cert("front-proxy-ca", None, ca=True)
    other_ca, other_ca_key = _cert("someone-else-ca", None, ca=True)
    serving_ca, serving_ca_key = _cert("serving-ca", None, ca=True)
    files: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        files[name] = tmp_path / name
        files[name].write_bytes(data)

    write("front-ca.crt", _pem(front_ca))
    write("serving-ca.crt", _pem(serving_ca))
    serving, serving_key = _cert("localhost", (serving_ca.subject, serving_ca_key), san="localhost")
    write("tls.crt", _pem(serving))
    write("tls.key", _key_pem(serving_key))
    for label, cn, issuer in [("aggregator", "front-proxy-client", (front_ca.subject, front_ca_key)),
                              ("stranger", "front-proxy-client", (other_ca.subject, other_ca_key)),
                              ("wrong-name", "somebody", (front_ca.subject, front_ca_key))]:  # fmt: skip
        cert, key = _cert(cn, issuer)
        write(f"{label}.crt", _pem(cert))
        write(f"{label}.key", _key_pem(key))
    return files


@pytest.fixture
async def apiserver(kmock: kmock.KubernetesEmulator, pki: dict[str, Path]) -> kmock.KubernetesEmulator:
    configmap = {
        "kind": "ConfigMap",
        "data": {
            "requestheader-client-ca-file": pki["front-ca.crt"].read_text(),
            "requestheader-allowed-names": '["front-proxy-client"]',
            "requestheader-username-headers": '["X-Remote-User"]',
            "requestheader-group-headers": '["X-Remote-Group"]',
            "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        },
    }
    kmock["get /api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"] << configmap

    def review(request: kmock.Request) -> dict[str, Any]:
        for key in list(kmock.objects):
            if key[0] == SARS:
                del kmock.objects[key]
        spec = request.data["spec"]
        attrs = spec.get("resourceAttributes")
        if attrs is None:
            allowed = spec["nonResourceAttributes"]["path"].startswith("/apis")  # system:discovery
        else:
            assert attrs["group"] == "metrics.smi-spec.io"
            wanted = (spec["user"], attrs["resource"], attrs["subresource"], attrs["namespace"], attrs["verb"])
            allowed = wanted in ALLOWED or "admins" in spec.get("groups", [])
        status = {"allowed": allowed, **({} if allowed else {"reason": "no RBAC rule allows it"})}
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec, "status": status}

    kmock.resources["authorization.k8s.io/v1/subjectaccessreviews"] = {
        "kind": "SubjectAccessReview",
        "namespaced": False,
    }
    kmock["post", SARS] << review
    return kmock


@pytest.fixture
async def secured(apiserver: kmock.KubernetesEmulator, pki: dict[str, Path], query: Query) -> AsyncIterator[str]:
    from tests.metrics.test_server import FixedSource

    kube = Kube(url=str(apiserver.url).rstrip("/"))
    config = await load_request_header_config(kube)
    context = server_ssl_context(str(pki["tls.crt"]), str(pki["tls.key"]), config)
    app = make_app(MetricsApi(topology=lambda: query.topo, source=FixedSource(query.data),
                              authorize=Authorizer(kube, config)))  # fmt: skip
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"https://localhost:{port}"
    await runner.cleanup()


async def call(url: str, pki: dict[str, Path], client: str | None, headers: dict[str, str]) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(pki["serving-ca.crt"]))
    if client is not None:
        context.load_cert_chain(str(pki[f"{client}.crt"]), str(pki[f"{client}.key"]))
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers, ssl=context) as r:
        return r.status, await r.json(content_type=None)


async def test_an_allowed_user_through_the_aggregator_gets_metrics(secured: str, pki: dict[str, Path]) -> None:
    status, body = await call(
        secured + f"{BASE}/namespaces/shop/deployments", pki, "aggregator", {"X-Remote-User": "jane"}
    )
    assert status == 200 and body["kind"] == "TrafficMetricsList"
    status, _ = await call(secured + f"{BASE}/namespaces/shop/deployments/web-v1/edges", pki, "aggregator",
                           {"X-Remote-User": "jane"})  # fmt: skip
    assert status == 200
    status, _ = await call(secured + BASE, pki, "aggregator", {"X-Remote-User": "jane"})
    assert status == 200


async def test_a_user_without_rbac_gets_403_and_groups_count(secured: str, pki: dict[str, Path]) -> None:
    url = secured + f"{BASE}/namespaces/other/pods"
    status, body = await call(url, pki, "aggregator", {"X-Remote-User": "jane"})
    assert (status, body["reason"]) == (403, "Forbidden")
    assert 'user "jane" cannot list pods in namespace other' in body["message"]
    status, _ = await call(url, pki, "aggregator", {"X-Remote-User": "bob", "X-Remote-Group": "admins"})
    assert status == 200


async def test_without_the_front_proxy_certificate_nobody_is_believed(secured: str, pki: dict[str, Path]) -> None:
    url = secured + f"{BASE}/namespaces/shop/deployments"
    for client in (None, "wrong-name"):
        status, body = await call(url, pki, client, {"X-Remote-User": "jane"})
        assert (status, body["reason"]) == (401, "Unauthorized"), client
    with pytest.raises(aiohttp.ClientError):  # a certificate from another CA fails the handshake
        await call(url, pki, "stranger", {"X-Remote-User": "jane"})
    async with aiohttp.ClientSession() as s:
        context = ssl.create_default_context(cafile=str(pki["serving-ca.crt"]))
        async with s.get(secured + "/healthz", ssl=context) as r:
            assert r.status == 200  # the kubelet's probes come without a certificate
