"""Supervision with real processes: restart with backoff, and stopping leaves no process behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from smi.runtime.backoff import Backoff
from smi.runtime.processes import Supervised
from tests.waiting import wait_until


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_crashing_process_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    proc = Supervised(
        name="ns/pod/app",
        argv=[sys.executable, "-c", "print('started', flush=True); raise SystemExit(3)"],
        env=dict(os.environ),
        log_path=log,
        backoff=Backoff(initial=0.05, cap=0.2),
    )
    proc.start()
    try:
        await wait_until(lambda: proc.restarts >= 3)
        status = proc.status()
        assert status.last_exit == 3
        assert log.read_text().count("started") >= 3
        assert "exited with 3; restarting in" in log.read_text()
        assert proc.failures >= 3
    finally:
        await proc.stop(grace=1.0)
    assert proc.status().state == "stopped"


async def test_stop_kills_the_whole_process_group_including_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time, signal\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"  # a stubborn app: only SIGKILL stops it
        "child = subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: time.sleep(1)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "while True: time.sleep(1)\n"
    )
    proc = Supervised(
        name="ns/pod/app", argv=[sys.executable, "-c", script], env=dict(os.environ), log_path=tmp_path / "app.log"
    )
    proc.start()
    await wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    parent, child = (int(x) for x in pids.read_text().split())
    assert os.getpgid(child) == parent  # the app leads its own group
    await proc.stop(grace=0.3)
    await wait_until(lambda: not pid_alive(child) and not pid_alive(parent), within=5)
    assert proc.restarts == 0
