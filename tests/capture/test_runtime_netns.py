"""``smi up --isolation netns`` and its plumbing (``smi.runtime.netns``), with real namespaces.

Every namespace here carries a prefix unique to the test (``smi-<6 hex>`` of a temporary
folder), so the sweeps these tests exercise never touch another run's namespaces.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.drivers.netns import http_get_in
from smi.runtime import netns
from smi.runtime.isolation import pod_netns, run_prefix
from tests.runtime.harness import Mesh, wait_for

pytestmark = pytest.mark.netns

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: store, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: store, namespace: shop}
spec:
  clusterIP: 10.96.7.7
  selector: {app: store}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: store, namespace: shop}
spec:
  selector: {matchLabels: {app: store}}
  template:
    metadata: {labels: {app: store}}
    spec:
      serviceAccountName: store
      containers:
        - name: store
          command: ["python", "-m", "conformance.apps.server"]
          ports: [{containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tool, namespace: shop}
spec:
  selector: {matchLabels: {app: tool}}
  template:
    metadata: {labels: {app: tool}}
    spec:
      containers:
        - name: tool
          command: ["python", "-m", "conformance.apps.tool"]
          ports: [{containerPort: 8080}]
"""


def ours(prefix: str) -> list[str]:
    return [n for n in netns.namespaces() if n.startswith(prefix + "-")]


@pytest.fixture(scope="module")
def root() -> None:
    reason = netns.missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def work(root: None) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="smi-netns-rt-"))
    (folder / "manifests").mkdir()
    (folder / "manifests" / "shop.yaml").write_text(MANIFESTS)
    try:
        yield folder
    finally:
        netns.sweep(run_prefix(folder / "state"))
        shutil.rmtree(folder, ignore_errors=True)


def test_without_root_smi_up_netns_is_one_clear_line(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "smi.cli.main", "up", "--isolation", "netns", "--state-dir", str(tmp_path)]
    if os.geteuid() == 0:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "smi up: --isolation netns: network namespaces need root (run as root, or use --isolation loopback)"
    ]


def test_pods_are_isolated_named_and_swept_after_a_crash(work: Path) -> None:
    prefix = run_prefix(work / "state")
    mesh = Mesh(manifests=work / "manifests", work=work, extra_args=("--isolation", "netns", "--permissive"))
    try:
        status = mesh.wait_ready(["store", "tool"])
        pods = {p["deployment"]: p for p in status["pods"]}
        assert all(p["sidecar"]["ready"] for p in status["pods"])  # smi status reaches the sidecars inside
        tool_ns = pod_netns(prefix, pods["tool"]["ip"])
        store_ip = pods["store"]["ip"]
        assert store_ip.startswith("198.18.") and tool_ns in netns.namespaces()
        hosts = (netns.ETC_NETNS / tool_ns / "hosts").read_text()
        vip = next(line.split()[0] for line in hosts.splitlines() if "store.shop.svc.cluster.local" in line)
        assert vip.startswith("198.19.") and "10.96.7.7" not in hosts  # the manifest's clusterIP is not used
        # by name, no proxy settings: captured, mTLS to the store's sidecar, answered by the app
        tool_ip = pods["tool"]["ip"]
        status_code, body = http_get_in(tool_ns, tool_ip, 8080, "/fetch?url=http://store.shop:8080/x", timeout=30)
        assert status_code == 200 and b'"status": 200' in body and b'\\"server\\": \\"store' in body, body[:300]
        # skipping the sidecar: from the tool's namespace straight to the store's app port
        status_code, body = http_get_in(tool_ns, tool_ip, 8080, f"/fetch?url=http://{store_ip}:8080/", timeout=30)
        assert b'"status": 0' in body, body[:300]
        # a crash: the runtime and its processes die, its namespaces stay behind
        os.killpg(mesh.process.pid, signal.SIGKILL)
        mesh.process.wait(timeout=10)
        from smi.runtime import leftovers

        leftovers.kill_all(mesh.info.runtime_id)
        assert len(ours(prefix)) == 3  # hub + two pods
        old_hub = (netns.NETNS_DIR / f"{prefix}-hub").stat().st_ino  # the namespace's identity
        netns.ip("netns", "add", f"{prefix}-stale")  # whatever else a crashed run of this folder left
        stranger = f"smi-{secrets.token_hex(3)}-x"  # another run's namespace
        netns.ip("netns", "add", stranger)
    finally:
        mesh.close()
    try:
        again = Mesh(manifests=work / "manifests", work=work, extra_args=("--isolation", "netns"))
        try:
            again.wait_ready(["store", "tool"])
            assert sorted(ours(prefix)) == sorted(
                [f"{prefix}-hub", *(pod_netns(prefix, p["ip"]) for p in again.status()["pods"])]
            )
            assert (netns.NETNS_DIR / f"{prefix}-hub").stat().st_ino != old_hub  # swept and made anew
            assert stranger in netns.namespaces()
        finally:
            again.close()
        wait_for("the runtime's namespaces to be removed on stop", lambda: not ours(prefix), limit=30)
        assert not (netns.ETC_NETNS / tool_ns).exists()
        assert stranger in netns.namespaces()
    finally:
        netns.delete(stranger)


def test_a_fabric_joins_its_members_and_its_sweep_keeps_to_its_prefix(root: None) -> None:
    prefix, other = netns.make_prefix(secrets.token_hex(8)), netns.make_prefix(secrets.token_hex(8))
    fabric, neighbour = netns.Fabric(prefix), netns.Fabric(other)
    try:
        fabric.create()
        neighbour.create()
        a = fabric.add("a", "198.18.0.2")
        fabric.add("b", "198.18.0.3")
        neighbour.add("a", "198.18.0.2")  # the same addresses in another fabric never meet
        ping = (
            netns.run([*netns.exec_prefix(a), "ping", "-c", "1", "-W", "5", "198.18.0.3"])
            if shutil.which("ping")
            else ""
        )
        assert ping == "" or "1 received" in ping
        assert sorted(ours(prefix)) == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-hub"]
        assert sorted(netns.sweep(prefix)) == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-hub"]
        assert not ours(prefix)
        assert sorted(ours(other)) == [f"{other}-a", f"{other}-hub"]
    finally:
        fabric.destroy()
        neighbour.destroy()
