"""A local mesh with known traffic for the metrics tests (shared by the API, CLI, kubectl and Prometheus tests)."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.metrics import manifests as m
from tests.metrics.synthetic import synthetic_query
from tests.runtime.harness import Mesh, wait_for
from traffic_metrics.query import Query

BASE = "/apis/metrics.smi-spec.io/v1alpha1"
OK_REQUESTS = 30
FAILED_REQUESTS = 10  # 500 from the app: a quarter of the traffic


@dataclass
class KnownTraffic:
    mesh: Mesh
    caller_ip: str

    def send(self, path: str, count: int) -> list[int]:
        """``count`` GETs of ``http://server.metrics:8080<path>`` through the caller's sidecar."""
        statuses = []
        for _ in range(count):
            conn = http.client.HTTPConnection(self.caller_ip, 15001, timeout=30)
            try:
                conn.request("GET", f"http://server.{m.NAMESPACE}:8080{path}")
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
            finally:
                conn.close()
        return statuses

    def api(self, path: str) -> Any:
        return json.loads(_raw(self.mesh, path))

    @property
    def kubeconfig(self) -> Path:
        return self.mesh.state_dir / "kubeconfig"

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args], capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done


def _raw(mesh: Mesh, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(mesh.info.control_url + path, timeout=30) as response:
        text: str = response.read().decode()
        return text


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnownTraffic]:
    """The mesh after exactly 30 OK and 10 failed requests from caller to server (both scraped)."""
    work = tmp_path_factory.mktemp("metrics-mesh")
    folder = work / "manifests"
    folder.mkdir()
    (folder / "mesh.yaml").write_text(m.MESH)
    mesh = Mesh(manifests=folder, work=work)
    try:
        status = mesh.wait_ready(["server", "caller", "caller-twin"])
        caller_ip = next(p["ip"] for p in status["pods"] if p["deployment"] == "caller")
        traffic = KnownTraffic(mesh, caller_ip)
        assert traffic.send("/ok", OK_REQUESTS) == [200] * OK_REQUESTS
        assert traffic.send("/fail", FAILED_REQUESTS) == [500] * FAILED_REQUESTS

        def scraped() -> bool:
            got = traffic.api(f"{BASE}/namespaces/{m.NAMESPACE}/deployments/server?window=5m")
            counts = {x["name"]: x["value"] for x in got["metrics"]}
            return bool(counts["success_count"] == str(OK_REQUESTS) and counts["failure_count"] == str(FAILED_REQUESTS))

        wait_for("the metrics API to have scraped the known traffic", scraped, within=60)
        yield traffic
    finally:
        mesh.close()


def kubectl_available() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (.ci/run installs kubernetes-client)")


@pytest.fixture
def query() -> Query:
    """The synthetic mesh's window (tests/metrics/synthetic.py)."""
    return synthetic_query()
