"""Every way ``smi up`` can end leaves no process behind (issue 13, "Nothing left behind").

``smi up 2>&1 | tee log`` and Ctrl-C: the signal reaches ``tee`` too, so the runtime's output
pipe is closed by the time it prints "stopping".  These tests close the pipe's read end
(what ``tee``'s death does) and then send SIGINT, SIGTERM or SIGHUP; a closed pipe during
start-up; SIGKILL of the runtime (with and without its lifeline watchdog); and the leftovers
of a dead runtime found by the next ``smi up`` / ``smi down`` in the same state dir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smi.runtime import leftovers, statefile
from smi.runtime.launching import UpProcess
from tests.runtime import manifests as m
from tests.runtime.harness import Mesh, unique_base, wait_for

pytestmark = pytest.mark.timeout(180)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "all.yaml").write_text(
        m.NAMESPACE + "---\n" + m.service("store", "{app: store}") + "---\n" + m.store("v1")
    )
    return folder


def live_pids(status: dict[str, Any]) -> list[int]:
    return [p["pid"] for pod in status["pods"] for p in pod["processes"] if p["pid"]]


def gone(pid: int) -> bool:
    return not statefile.pid_alive(pid)


def _a_dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _orphan(runtime_id: str) -> subprocess.Popen[bytes]:
    """A process that looks like a dead runtime's pod: its own session, the runtime's id in its env."""
    return subprocess.Popen(["sleep", "120"], env={**os.environ, leftovers.MARKER: runtime_id}, start_new_session=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["int", "term", "hup"])
def test_a_signal_after_the_output_pipe_closed_still_stops_every_pod(tmp_path: Path, sig: int) -> None:
    mesh = Mesh(manifests=_folder(tmp_path), work=tmp_path, piped=True)
    try:
        pids = live_pids(mesh.wait_ready(["store-v1"]))
        assert mesh.process.stdout is not None
        mesh.process.stdout.close()  # `tee` died first
        os.kill(mesh.process.pid, sig)
        assert mesh.process.wait(timeout=60) == 0
        assert all(gone(pid) for pid in pids)
        assert leftovers.processes_of(mesh.info.runtime_id) == []
        assert statefile.read(mesh.state_dir) is None and statefile.read_claim(mesh.state_dir) is None
    finally:
        mesh.close()


def test_an_output_pipe_closed_during_start_up_does_not_hang_it(tmp_path: Path) -> None:
    process = UpProcess(
        folder=_folder(tmp_path), work=tmp_path, address_base=unique_base(), dashboard="plain", piped=True
    )
    assert process.process.stdout is not None
    process.process.stdout.close()  # closed before smi up printed anything
    info = None
    try:
        info = wait_for("the state file", lambda: statefile.read(process.state_dir), within=60)
        env = process.env

        def ready() -> bool:
            done = subprocess.run(
                [sys.executable, "-m", "smi.cli.main", "status", "-o", "json"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            return done.returncode == 0 and '"ready": true' in done.stdout

        wait_for("the pod ready", ready, within=60)
        down = subprocess.run(
            [sys.executable, "-m", "smi.cli.main", "down"], env=env, capture_output=True, text=True, timeout=60
        )
        assert down.returncode == 0, down.stderr
        assert process.process.wait(timeout=30) == 0
        assert leftovers.processes_of(info.runtime_id) == []
    finally:
        process.stop(info.runtime_id if info else None)


def _lifeline_pid(runtime_id: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"smi.runtime.lifeline" in cmdline and runtime_id.encode() in cmdline:
                return int(entry.name)
    return None


def test_pods_die_with_a_sigkilled_runtime_even_without_its_watchdog(tmp_path: Path) -> None:
    """The parent-death signal alone: the lifeline watchdog is killed first."""
    mesh = Mesh(manifests=_folder(tmp_path), work=tmp_path)
    try:
        pids = live_pids(mesh.wait_ready(["store-v1"]))
        watchdog = _lifeline_pid(mesh.info.runtime_id)
        assert watchdog is not None
        os.kill(watchdog, signal.SIGKILL)
        os.kill(mesh.process.pid, signal.SIGKILL)
        mesh.process.wait(timeout=10)
        wait_for("the pods gone with their runtime", lambda: all(gone(pid) for pid in pids), within=20)
    finally:
        mesh.close()


def test_the_next_up_stops_what_a_dead_runtime_left_in_the_same_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    orphan = _orphan("deadbeef" * 4)
    elsewhere = _orphan("cafebabe" * 4)  # another state dir's runtime: never touched
    try:
        statefile.write_claim(state, statefile.Claim(pid=_a_dead_pid(), runtime_id="deadbeef" * 4, start_ticks=0))
        mesh = Mesh(manifests=_folder(tmp_path), work=tmp_path)
        try:
            assert orphan.wait(timeout=30) == -signal.SIGKILL
            assert "stopped 1 process(es) a dead runtime left" in mesh.output()
            assert elsewhere.poll() is None
            mesh.wait_ready(["store-v1"])
            claim = statefile.read_claim(state)
            assert claim is not None and claim.runtime_id == mesh.info.runtime_id
        finally:
            mesh.close()
    finally:
        for process in (orphan, elsewhere):
            process.kill()
            process.wait()


def test_down_finds_a_runtime_that_died_during_start_up(tmp_path: Path) -> None:
    state = tmp_path / "state"
    orphan = _orphan("0badf00d" * 4)
    try:
        statefile.write_claim(state, statefile.Claim(pid=_a_dead_pid(), runtime_id="0badf00d" * 4, start_ticks=0))
        (state / "pods" / "shop" / "p").mkdir(parents=True)
        (state / "pods" / "shop" / "p" / "bootstrap-token").write_text("secret\n")
        down = subprocess.run(
            [sys.executable, "-m", "smi.cli.main", "down"],
            env={**os.environ, "SMI_STATE_DIR": str(state)}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert down.returncode == 0, down.stderr
        assert "killed 1 process(es)" in down.stdout
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert statefile.read_claim(state) is None and not (state / "pods").exists()
    finally:
        orphan.kill()
        orphan.wait()
