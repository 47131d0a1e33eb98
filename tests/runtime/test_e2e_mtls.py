"""End to end through ``smi up``: strict mutual TLS by default, the local CA, and ``--mtls off``.

One strict mesh for the module (a store, a buyer allowed to GET /books, a thief in its own
file); the restart and the ``off`` tests start their own.  Everything is real processes on
loopback addresses: the sidecars get their certificates from the runtime's CA over TLS, and
the tests look at what a user can: the apps' logs, the sidecars' ``/metrics``, ``smi
status`` and ``smi ca status``.
"""

from __future__ import annotations

import json
import re
import socket
import stat
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.runtime import manifests as m
from tests.runtime.harness import LogTail, Mesh, wait_for

pytestmark = pytest.mark.timeout(300)

STORE_URL = "http://store.shop:8080/books"
BUYER = "spiffe://cluster.local/ns/shop/sa/buyer"
ADMIN_PORT = 15000
INBOUND_PORT = 15003


def write_manifests(folder: Path) -> None:
    folder.mkdir()
    (folder / "00-ns.yaml").write_text(m.NAMESPACE)
    (folder / "10-services.yaml").write_text(m.service("store", "{app: store}"))
    (folder / "20-store.yaml").write_text(m.store("v1"))
    (folder / "30-buyer.yaml").write_text(m.client("buyer", "buyer", STORE_URL))
    (folder / "35-thief.yaml").write_text(m.client("thief", "thief", STORE_URL, rate=10, module="bookthief"))
    (folder / "50-access.yaml").write_text(m.ACCESS)


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def metrics(ip: str) -> list[tuple[str, dict[str, str], float]]:
    """One scrape of a sidecar's admin ``/metrics``: (name, labels, value) per sample."""
    with _NO_PROXY.open(f"http://{ip}:{ADMIN_PORT}/metrics", timeout=5) as response:
        text = response.read().decode()
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def inbound_tls(ip: str, result: str) -> float:
    return sum(
        v for n, labels, v in metrics(ip) if n == "smi_inbound_tls_connections_total" and labels["result"] == result
    )


def purchases(tail: LogTail) -> list[str]:
    return [line for line in tail.lines() if line.startswith("200 bookstore ")]


def pod(status: dict[str, Any], deployment: str) -> dict[str, Any]:
    return next(p for p in status["pods"] if p["deployment"] == deployment)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    work = tmp_path_factory.mktemp("mtls")
    write_manifests(work / "manifests")
    mesh = Mesh(manifests=work / "manifests", work=work)
    try:
        mesh.wait_ready(["store-v1", "buyer", "thief"])
        yield mesh
    finally:
        mesh.close()


def test_strict_mtls_is_the_default_and_the_buyer_to_store_edge_is_mutually_authenticated(mesh: Mesh) -> None:
    buyer = LogTail(mesh.log_path("buyer", "app"))
    wait_for("the buyer's purchases", lambda: len(purchases(buyer)) >= 3)
    status = mesh.status()
    assert status["runtime"]["config_url"].startswith("https://")
    store_ip, buyer_ip = pod(status, "store-v1")["ip"], pod(status, "buyer")["ip"]

    def store_saw_buyer() -> bool:
        samples = metrics(store_ip)
        accepted = sum(
            v
            for n, labels, v in samples
            if n == "smi_inbound_tls_connections_total" and labels["result"] == "mtls_accepted"
        )
        served = sum(
            v
            for n, labels, v in samples
            if n == "smi_responses_total"
            and labels["direction"] == "inbound"
            and labels["source_identity"] == BUYER
            and labels["status_code"] == "200"
        )
        return accepted >= 1 and served >= 1

    wait_for("the store's sidecar counting mTLS connections and 200s from the buyer's identity", store_saw_buyer)
    buyer_side = metrics(buyer_ip)
    assert ("smi_mtls_mode", {"mode": "strict"}, 1.0) in buyer_side
    opened = sum(
        v for n, labels, v in buyer_side if n == "smi_outbound_tls_connections_total" and labels["result"] == "opened"
    )
    assert opened >= 1, "the buyer's sidecar opened no mTLS connection"


def test_plain_text_to_a_pods_inbound_port_is_refused_and_counted(mesh: Mesh) -> None:
    store_ip = pod(mesh.status(), "store-v1")["ip"]
    before = inbound_tls(store_ip, "plaintext_refused")
    with socket.create_connection((store_ip, INBOUND_PORT), timeout=10) as sock:
        sock.sendall(b"GET /books HTTP/1.1\r\nHost: store.shop:8080\r\nConnection: close\r\n\r\n")
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert answer == b"", f"a plain-text request got an answer: {answer!r}"
    wait_for("the refusal counted", lambda: inbound_tls(store_ip, "plaintext_refused") >= before + 1)
    buyer = LogTail(mesh.log_path("buyer", "app"))
    wait_for("the buyer still served over mTLS", lambda: len(purchases(buyer)) >= 3)


def test_status_shows_the_mode_the_local_ca_and_each_sidecars_certificate_expiry(mesh: Mesh) -> None:
    status = mesh.status()
    mtls = status["runtime"]["mtls"]
    assert mtls["mode"] == "strict" and mtls["trust_domain"] == "cluster.local"
    assert Path(mtls["ca_dir"]) == mesh.state_dir / "ca"
    now = time.time()
    for p in status["pods"]:
        assert p["sidecar"]["mtls"] == "strict", p
        assert now < p["sidecar"]["certificate_expiry"] <= now + 24 * 3600 + 60, p
    table = mesh.smi("status").stdout
    assert f"mTLS strict  trust domain cluster.local  CA {mesh.state_dir / 'ca'}" in table
    rows = re.findall(r" strict +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in 2[34]h\)", table)  # MTLS, CERT EXPIRES
    assert len(rows) == len(status["pods"]), table
    ca = json.loads(mesh.smi("ca", "status", "--dir", str(mesh.state_dir / "ca"), "--json").stdout)
    assert ca["active_root"]["sha256"] == mtls["root_sha256"]


def test_each_pod_has_a_private_bootstrap_token_that_goes_away_with_the_pod(mesh: Mesh) -> None:
    thief = pod(mesh.status(), "thief")
    token = mesh.state_dir / "pods" / "shop" / thief["name"] / "bootstrap-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert len(token.read_text().strip()) >= 32
    thief_file = mesh.manifests / "35-thief.yaml"
    text = thief_file.read_text()
    thief_file.unlink()
    try:
        wait_for("the thief's pod gone", lambda: all(p["deployment"] != "thief" for p in mesh.status()["pods"]))
        wait_for("its token file removed", lambda: not token.parent.exists())
    finally:
        thief_file.write_text(text)
    wait_for("a new thief pod ready", lambda: any(p["ready"] for p in mesh.pods("thief")))


def test_a_restarted_runtime_keeps_its_ca_and_serves_again(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    write_manifests(folder)
    (folder / "35-thief.yaml").unlink()
    roots = []
    keys = []
    for _ in range(2):
        mesh = Mesh(manifests=folder, work=tmp_path)
        try:
            status = mesh.wait_ready(["store-v1", "buyer"])
            roots.append(status["runtime"]["mtls"]["root_sha256"])
            keys.append((mesh.state_dir / "ca" / "tls.key").read_bytes())
            buyer = LogTail(mesh.log_path("buyer", "app"))
            wait_for("the buyer's purchases", lambda: len(purchases(buyer)) >= 2)  # noqa: B023
        finally:
            mesh.close()
    assert roots[0] == roots[1]
    assert keys[0] == keys[1]  # loaded again, not regenerated


def test_mtls_off_runs_the_plain_text_mesh(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    write_manifests(folder)
    (folder / "35-thief.yaml").unlink()
    mesh = Mesh(manifests=folder, work=tmp_path, extra_args=("--mtls", "off"))
    try:
        status = mesh.wait_ready(["store-v1", "buyer"])
        assert status["runtime"]["config_url"].startswith("http://")
        assert status["runtime"]["mtls"] == {"mode": "off"}
        buyer = LogTail(mesh.log_path("buyer", "app"))
        wait_for("the buyer's purchases", lambda: len(purchases(buyer)) >= 3)
        store_ip = pod(status, "store-v1")["ip"]
        assert ("smi_mtls_mode", {"mode": "off"}, 1.0) in metrics(store_ip)
        assert not (mesh.state_dir / "ca").exists()
        assert "mTLS off" in mesh.smi("status").stdout
    finally:
        mesh.close()
