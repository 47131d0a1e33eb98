"""What a dead runtime left in a state dir: find it, stop it, clear its files.

Used by ``smi up`` before it starts (so its pods never crash-loop on "address already in
use" against a dead runtime's orphans) and by ``smi down``.  Scoped to one state dir: only
the runtime ids recorded in that dir's ``claim.json`` / ``runtime.json`` are swept, so other
meshes on the machine (other state dirs) are never touched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from smi.runtime import leftovers, statefile

PODS_DIR = "pods"  # smi.runtime.mtls.PODS_DIR: the pods' bootstrap tokens


@dataclass(frozen=True, slots=True)
class Recorded:
    pid: int
    runtime_id: str
    start_ticks: int


def recorded(directory: Path) -> list[Recorded]:
    """The runtimes this state dir records (claim and state file; usually the same one)."""
    found: dict[str, Recorded] = {}
    claim = statefile.read_claim(directory)
    if claim is not None:
        found[claim.runtime_id] = Recorded(claim.pid, claim.runtime_id, claim.start_ticks)
    info = statefile.read(directory)
    if info is not None:
        found.setdefault(info.runtime_id, Recorded(info.pid, info.runtime_id, info.start_ticks))
    return list(found.values())


def live_runtime(directory: Path, *, me: int) -> Recorded | None:
    """A runtime recorded here that still runs (other than process ``me``), if any."""
    for runtime in recorded(directory):
        if runtime.pid != me and statefile.runtime_alive(runtime.pid, runtime.start_ticks):
            return runtime
    return None


def sweep_dead(directory: Path, *, me: int) -> int:
    """Kill every process of the dead runtimes recorded here and clear their files; returns the count."""
    killed = 0
    for runtime in recorded(directory):
        if runtime.pid != me and statefile.runtime_alive(runtime.pid, runtime.start_ticks):
            continue
        killed += leftovers.kill_all(runtime.runtime_id)
        shutil.rmtree(directory / PODS_DIR, ignore_errors=True)
        statefile.remove(directory, runtime_id=runtime.runtime_id)
        statefile.remove_claim(directory, runtime_id=runtime.runtime_id)
    return killed


__all__ = ["Recorded", "live_runtime", "recorded", "sweep_dead"]
