"""Where a running local mesh is advertised: ``<state dir>/runtime.json``.

The state dir is ``$SMI_STATE_DIR`` when set, else ``.smi`` in the working directory.  The
file tells the CLI (``smi apply/delete/get/status/down``) where the control API listens and
which runtime it is (``runtime_id``, also in every child's environment as
``SMI_RUNTIME_ID``, so that ``smi down`` can clean up after a runtime that was killed).
Pod logs live under ``<state dir>/logs/<namespace>/<pod>/``.

``claim.json`` is written before the runtime starts any process and removed only after the
last one stopped: a runtime killed at any moment (even during start-up, before
``runtime.json`` exists) leaves its id there, so the next ``smi up`` or ``smi down`` in the
same state dir finds and stops what it left (``smi.runtime.leftovers``), and nothing else.
Both files record the runtime process's start time, so a recycled pid is not taken for it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "runtime.json"
CLAIM_NAME = "claim.json"  # written before the first child starts, removed after the last one stopped


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("SMI_STATE_DIR")
    return Path(env) if env else Path.cwd() / ".smi"


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    pid: int
    runtime_id: str
    control_url: str
    config_url: str
    manifests: str
    address_base: str
    started_at: float
    start_ticks: int = 0  # /proc/<pid>/stat start time: a recycled pid is not this runtime


@dataclass(frozen=True, slots=True)
class Claim:
    pid: int
    runtime_id: str
    start_ticks: int


def start_ticks(pid: int) -> int:
    """The process's start time in clock ticks since boot (0 when unknown)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def runtime_alive(pid: int, ticks: int) -> bool:
    """Whether the runtime process ``pid`` (started at ``ticks``, 0 = unknown) still runs."""
    return pid_alive(pid) and (ticks == 0 or start_ticks(pid) in (0, ticks))


def write_claim(directory: Path, claim: Claim) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CLAIM_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(claim)) + "\n")
    tmp.replace(path)


def read_claim(directory: Path) -> Claim | None:
    try:
        return Claim(**json.loads((directory / CLAIM_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove_claim(directory: Path, *, runtime_id: str) -> None:
    current = read_claim(directory)
    if current is not None and current.runtime_id == runtime_id:
        (directory / CLAIM_NAME).unlink(missing_ok=True)


def write(directory: Path, info: RuntimeInfo) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
    tmp.replace(path)
    return path


def read(directory: Path) -> RuntimeInfo | None:
    """The advertised runtime, or None when there is no (readable) state file."""
    try:
        data = json.loads((directory / FILE_NAME).read_text())
        return RuntimeInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove(directory: Path, *, runtime_id: str) -> None:
    """Remove the state file if it is still ours (another runtime may have replaced it)."""
    current = read(directory)
    if current is not None and current.runtime_id == runtime_id:
        (directory / FILE_NAME).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
