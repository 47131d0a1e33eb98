"""The bookstore demo through ``smi up`` (real processes, strict mTLS): the server side names its caller itself.

bookstore-v1's sidecar labels what it receives with the caller's workload (the calling
sidecar's claim in the PROXY header, backed by its verified identity) and with ``tls``;
the metrics API's server-side edges of bookstore-v1 name bookbuyer from those series.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.harness import Mesh, wait_for

pytestmark = pytest.mark.timeout(300)
DEMO = Path(__file__).resolve().parents[2] / "manifests" / "demo"
BASE = "/apis/metrics.smi-spec.io/v1alpha1"
NS = "bookstore"
BUYER = {"kind": "Deployment", "namespace": NS, "name": "bookbuyer"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    work = tmp_path_factory.mktemp("demo-edges")
    folder = work / "manifests"
    folder.mkdir()
    for source in sorted(DEMO.glob("*.yaml")):
        if source.name != "50-udp.yaml":  # UDP has its own tests
            shutil.copy(source, folder / source.name)
    mesh = Mesh(manifests=folder, work=work)
    try:
        mesh.wait_ready(["bookbuyer", "bookthief", "bookstore-v1", "bookstore-v2"], limit=90)
        yield mesh
    finally:
        mesh.close()


def _api(mesh: Mesh, path: str) -> Any:
    with urllib.request.urlopen(mesh.info.control_url + path, timeout=30) as response:
        return json.loads(response.read())


def _inbound_series(mesh: Mesh, deployment: str) -> list[dict[str, str]]:
    ip = next(p["ip"] for p in mesh.status()["pods"] if p["deployment"] == deployment)
    with urllib.request.urlopen(f"http://{ip}:15000/metrics", timeout=30) as response:
        text = response.read().decode()
    series = []
    for line in text.splitlines():
        if line.startswith("smi_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[line.index("{") + 1 : line.rindex("}")]))
            if labels.get("direction") == "inbound":
                series.append(labels)
    return series


def test_bookstores_server_side_edges_name_bookbuyer_from_its_own_series(demo: Mesh) -> None:
    def callers() -> list[dict[str, Any]] | None:
        answer = _api(demo, f"{BASE}/namespaces/{NS}/deployments/bookstore-v1/edges?window=1m")
        server_side = [i for i in answer["items"] if (i["edge"]["direction"], i["edge"]["side"]) == ("from", "server")]
        counted = {m["name"]: m["value"] for m in server_side[0]["metrics"]} if server_side else {}
        return server_side if counted.get("success_count", "0") != "0" else None

    server_side = wait_for("bookstore-v1's server side to have counted bookbuyer's purchases", callers, within=90)
    assert [i["edge"]["resource"] for i in server_side] == [BUYER]
    assert server_side[0]["metrics"][-1] == {"name": "mtls_share", "value": "1"}
    # the sidecar itself names the caller (the API no longer has to guess it from the identity)
    series = _inbound_series(demo, "bookstore-v1")
    assert {(s["source_workload"], s["source_identity"], s["tls"]) for s in series} == {
        ("bookbuyer", "spiffe://cluster.local/ns/bookstore/sa/bookbuyer", "true")
    }
