"""End to end through ``smi up``: a TCPRoute service reached through a sidecar forward,
Deployment edits replacing pods, and ``smi down`` / Ctrl-C leaving no process behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from smi.runtime import leftovers, statefile
from tests.runtime import manifests as m
from tests.runtime.harness import LogTail, Mesh, wait_for

pytestmark = pytest.mark.timeout(240)

ECHO = """\
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: shop}
spec:
  selector: {app: echo}
  ports: [{name: tcp-echo, port: 9000, targetPort: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      serviceAccountName: store
      containers:
        - name: app
          command: [python, -m, smi.demo.tcpecho]
          ports: [{containerPort: 9000}]
          env: [{name: PORT, value: "9000"}, {name: ECHO_NAME, value: "%(name)s"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: caller, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: caller}}
  template:
    metadata: {labels: {app: caller}}
    spec:
      serviceAccountName: buyer
      containers:
        - name: app
          command: [python, -m, smi.demo.tcpecho]
          args: [--client, echo]
          env: [{name: RATE, value: "10"}]
"""

TCP_ACCESS = """\
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: echo-port, namespace: shop}
spec:
  matches: {ports: [9000]}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: caller-to-echo, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: store, namespace: shop}
  rules: [{kind: TCPRoute, name: echo-port}]
  sources: [{kind: ServiceAccount, name: buyer, namespace: shop}]
"""


def live_pids(status: dict[str, Any]) -> list[int]:
    return [p["pid"] for pod in status["pods"] for p in pod["processes"] if p["pid"]]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_tcp_route_forward_and_deployment_edit_then_down_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "ns.yaml").write_text(m.NAMESPACE)
    (folder / "echo.yaml").write_text(ECHO % {"name": "first"})
    (folder / "access.yaml").write_text(TCP_ACCESS)
    mesh = Mesh(manifests=folder, work=tmp_path)
    try:
        status = mesh.wait_ready(["echo", "caller"])
        caller = next(p for p in status["pods"] if p["deployment"] == "caller")
        assert caller["forwards"] == [f"{caller['ip']}:15100=echo.shop:9000"]
        tail = LogTail(mesh.log_path("caller", "app"))
        wait_for(
            "echoes through the TCP forward",
            lambda: sum(x == "ok first hello " + x.split()[-1] for x in tail.lines()) >= 3,
        )
        # the TCPRoute's TrafficTarget removed: connections are refused again
        (folder / "access.yaml").unlink()
        tail.reset()
        wait_for(
            "TCP denied without a target",
            lambda: (lines := tail.lines()[-3:]) and len(lines) == 3 and all(x.startswith("error") for x in lines),
        )
        (folder / "access.yaml").write_text(TCP_ACCESS)
        # a Deployment edit (env) replaces its pod: the new one answers with the new name
        old_echo = mesh.pods("echo")[0]["name"]
        (folder / "echo.yaml").write_text(ECHO % {"name": "second"})
        tail.reset()
        wait_for(
            "the edited deployment's pod answering",
            lambda: any(x.startswith("ok second") for x in tail.lines()),
            within=60,
        )
        wait_for(
            "the old pod gone",
            lambda: (
                [p["name"] for p in mesh.pods("echo")] != [old_echo]
                and old_echo not in [p["name"] for p in mesh.pods("echo")]
            ),
        )
        status = mesh.status()
        pids = live_pids(status)
        assert len(pids) == 4  # two pods, each an app and a sidecar
        down = mesh.smi("down")
        assert "local mesh stopped" in down.stdout
        assert mesh.process.wait(timeout=30) == 0
        for pid in pids:
            assert gone(pid), f"process {pid} survived smi down"
            with pytest.raises(ProcessLookupError):
                os.killpg(pid, 0)  # its whole process group is gone too
        assert leftovers.processes_of(mesh.info.runtime_id) == []
        assert statefile.read(mesh.state_dir) is None
    finally:
        mesh.close()


def test_ctrl_c_stops_everything_and_a_second_up_in_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "all.yaml").write_text(
        m.NAMESPACE + "---\n" + m.service("store", "{app: store}") + "---\n" + m.store("v1", replicas=2)
    )
    mesh = Mesh(manifests=folder, work=tmp_path)
    try:

        def both_ready() -> dict[str, Any] | None:
            now = mesh.status()
            return now if sum(p["ready"] for p in now["pods"]) == 2 else None

        status = wait_for("both replicas ready", both_ready)
        assert [p["deployment"] for p in status["pods"]] == ["store-v1", "store-v1"]
        second = mesh.smi("up", "-f", str(folder), "--address-base", "127.9.0.0", check=False)
        assert second.returncode == 1 and "already running" in second.stderr
        pids = live_pids(status)
        os.kill(mesh.process.pid, signal.SIGINT)
        assert mesh.process.wait(timeout=30) == 0
        assert all(gone(pid) for pid in pids)
        assert leftovers.processes_of(mesh.info.runtime_id) == []
        assert "stopped; every process it started is gone" in mesh.output()
    finally:
        mesh.close()


def test_down_cleans_up_after_a_runtime_that_was_killed(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "all.yaml").write_text(m.NAMESPACE + "---\n" + m.store("v1"))
    mesh = Mesh(manifests=folder, work=tmp_path)
    try:
        pids = live_pids(mesh.wait_ready(["store-v1"]))
        assert list((mesh.state_dir / "pods").glob("*/*/bootstrap-token"))
        os.kill(mesh.process.pid, signal.SIGKILL)  # the runtime dies without cleaning up
        mesh.process.wait(timeout=10)
        assert leftovers.processes_of(mesh.info.runtime_id)  # its pods run on, orphaned
        down = mesh.smi("down")
        assert "killed" in down.stdout
        wait_for("the orphans gone", lambda: all(gone(pid) for pid in pids), within=10)
        assert statefile.read(mesh.state_dir) is None
        assert not (mesh.state_dir / "pods").exists()  # no bootstrap token left lying around
    finally:
        mesh.close()
