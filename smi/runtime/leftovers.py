"""Finding processes a runtime started, by the ``SMI_RUNTIME_ID`` in their environment.

Used by ``smi down`` when the runtime itself is gone (killed with SIGKILL, say) but its
pods' processes may still run, and by the tests to prove nothing is left behind.  Only
processes whose environment carries exactly that id are ever touched.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

MARKER = "SMI_RUNTIME_ID"


def processes_of(runtime_id: str) -> list[int]:
    """PIDs of live processes whose environment has ``SMI_RUNTIME_ID=<runtime_id>``."""
    needle = f"{MARKER}={runtime_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie is dead already
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_all(runtime_id: str) -> int:
    """SIGKILL every process (and its group) of ``runtime_id``; returns how many were found."""
    pids = processes_of(runtime_id)
    for pid in pids:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)
