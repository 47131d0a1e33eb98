"""What the local runtime is told and what it tells back: its settings, its report, its children's environment.

``RuntimeSettings`` is what ``smi up`` parses its flags into; ``Report`` collects the manifest
problems, the limits the runtime applied and its recent events (the control API and the
terminal show them); ``child_environment`` is the environment every app and sidecar process
inherits.  ``smi.runtime.running.LocalRuntime`` takes the first two.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import smi
from smi.compile import MeshSettings
from smi.runtime.isolation import ISOLATION_MODES
from smi.runtime.leftovers import MARKER
from smi.runtime.mtls import MTLS_MODES

DEFAULT_MAX_PODS = 64


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    manifests: Path | None
    state_dir: Path
    address_base: str = "127.1.0.0"
    mesh: MeshSettings = field(default_factory=MeshSettings)
    watch: bool = True
    mtls: str = "strict"  # strict | permissive | off
    isolation: str = "loopback"  # loopback | netns (smi.runtime.isolation)
    max_pods: int = DEFAULT_MAX_PODS  # pods the runtime runs at most (replicas beyond it are not started)
    cert_lifetime: float | None = None  # workload (and control plane) certificate lifetime, seconds; None: the CA's

    def __post_init__(self) -> None:
        if self.mtls not in MTLS_MODES:
            raise ValueError(f"mtls: must be one of {', '.join(MTLS_MODES)}, got {self.mtls!r}")
        if self.isolation not in ISOLATION_MODES:
            raise ValueError(f"isolation: must be one of {', '.join(ISOLATION_MODES)}, got {self.isolation!r}")


@dataclass
class Report:
    """What the runtime tells its user: problems in the manifests and notable events."""

    problems: list[str] = field(default_factory=list)
    limits: dict[str, str] = field(default_factory=dict)  # what the runtime did not do, by object (e.g. replicas)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    printer: Callable[[str], None] | None = None

    def event(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.events.append(f"{stamp} {text}")
        if self.printer is not None:
            self.printer(text)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What every child inherits: this environment, with this very ``smi`` package importable.

    The source root goes first on ``PYTHONPATH`` so that sidecars (``python -m smi.cli.main
    proxy``) and the demo apps run the same code as the runtime, installed or not.
    """
    env = {k: v for k, v in environ.items() if k != MARKER}
    root = str(Path(smi.__file__).resolve().parent.parent)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return env


__all__ = ["DEFAULT_MAX_PODS", "Report", "RuntimeSettings", "child_environment"]
