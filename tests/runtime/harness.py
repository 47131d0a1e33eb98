"""An end-to-end harness: ``smi up`` as a real subprocess, with its own state dir and addresses.

``Mesh`` starts ``smi up -f <dir>`` in its own process group with a unique loopback address
range, talks to it through the real CLI and control API, reads the pods' log files, and on
teardown kills its process group and anything carrying its ``SMI_RUNTIME_ID`` (so even a
failing test leaves nothing behind).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

from smi.runtime import statefile
from smi.runtime.launching import UpProcess
from tests.waiting import wait_for as wait_for  # the one bounded wait (tests.waiting)

T = TypeVar("T")
_COUNTER = itertools.count()


def unique_base() -> str:
    """A /16 of 127/8 for one mesh: distinct per test process and per mesh within it."""
    n = next(_COUNTER)
    return f"127.{100 + (os.getpid() + n) % 140}.{(n * 8) % 256}.0"


class Mesh:
    def __init__(self, *, manifests: Path, work: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.manifests = manifests
        self.base = unique_base()
        self.up = UpProcess(
            folder=manifests, work=work, address_base=self.base, dashboard="plain", extra_args=extra_args
        )
        self.state_dir = self.up.state_dir
        self.env = self.up.env
        self.process = self.up.process
        self.info = wait_for("the state file", lambda: statefile.read(self.state_dir), within=30)

    # -- talking to it -----------------------------------------------------------------------

    def smi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "smi.cli.main", *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"smi {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.smi("status", "-o", "json").stdout)
        return result

    def pods(self, deployment: str) -> list[dict[str, Any]]:
        return [p for p in self.status()["pods"] if p["deployment"] == deployment]

    def wait_ready(self, deployments: list[str], *, limit: float = 60.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status()
            ready = {p["deployment"] for p in status["pods"] if p["ready"]}
            return status if set(deployments) <= ready else None

        return wait_for(f"pods of {deployments} to be ready", check, within=limit)

    def log_path(self, deployment: str, container: str | None = None) -> Path:
        pod: dict[str, Any] = wait_for(f"a pod of {deployment}", lambda: self.pods(deployment))[0]
        name = container or deployment
        path: Path = self.state_dir / "logs" / pod["namespace"] / pod["name"] / f"{name}.log"
        return path

    def output(self) -> str:
        return self.up.output()

    # -- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        self.up.stop(self.info.runtime_id)


class LogTail:
    """New lines of a log file since the tail was made (or last reset)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def reset(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        return complete.decode("utf-8", "replace").splitlines()
