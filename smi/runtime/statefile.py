"""Where a running local mesh is advertised: ``<state dir>/runtime.json``.

The state dir is ``$SMI_STATE_DIR`` when set, else ``.smi`` in the working directory.  The
file tells the CLI (``smi apply/delete/get/status/down``) where the control API listens and
which runtime it is (``runtime_id``, also in every child's environment as
``SMI_RUNTIME_ID``, so that ``smi down`` can clean up after a runtime that was killed).
Pod logs live under ``<state dir>/logs/<namespace>/<pod>/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "runtime.json"


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
