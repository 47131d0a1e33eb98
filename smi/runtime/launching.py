"""``smi up`` as a subprocess of its own, for callers that need a whole local mesh for a while.

The end-to-end tests and the conformance suite's local driver both start the runtime the
way a user would: ``python -m smi.cli.main up -f <folder>`` with its own state dir
(``SMI_STATE_DIR``), a loopback address range of its own (``--address-base``), and its
output in a file.  It runs in its own session (process group), so ``stop`` can end it and
every process it started: SIGTERM to the group, a bounded wait, SIGKILL to the group, and
then (given the runtime's id from its state file) SIGKILL to anything still carrying its
``SMI_RUNTIME_ID`` (see ``leftovers``).  Nothing is left running, even after a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from smi.runtime import leftovers

STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL


class UpProcess:
    """``smi up -f folder`` started in ``work`` (state in ``work/state``, output in ``work/up.out``)."""

    def __init__(
        self,
        *,
        folder: Path,
        work: Path,
        address_base: str,
        dashboard: str,
        extra_args: Sequence[str] = (),
        piped: bool = False,
    ) -> None:
        """``piped``: stdout and stderr go to a pipe (``self.process.stdout``) instead of the file."""
        self.state_dir = work / "state"
        self.output_path = work / "up.out"
        self.env = {**os.environ, "SMI_STATE_DIR": str(self.state_dir)}
        self._out = self.output_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smi.cli.main",
                "up",
                "-f",
                str(folder),
                "--address-base",
                address_base,
                "--dashboard",
                dashboard,
                *extra_args,
            ],
            env=self.env,
            stdout=subprocess.PIPE if piped else self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """Everything ``smi up`` wrote so far (stdout and stderr)."""
        self._out.flush()
        return self.output_path.read_text(errors="replace")

    def stop(self, runtime_id: str | None) -> None:
        """End ``smi up``'s process group and, with ``runtime_id``, every process of that runtime."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if runtime_id is not None:
            leftovers.kill_all(runtime_id)
        self._out.close()
