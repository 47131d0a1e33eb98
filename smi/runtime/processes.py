"""One supervised process: started in its own process group, restarted with backoff, stopped for good.

``Supervised.run()`` is the loop a kubelet runs for one container with restartPolicy
Always: start, wait for the exit, wait the backoff delay, start again, until ``stop()``.
Every process is the leader of its own session and process group (``start_new_session``),
so stopping kills the whole group: children the app spawned go too.  Stopping is SIGTERM to
the group, a bounded wait, then SIGKILL.  Output goes to a log file (appended over restarts).

Each child's environment carries ``SMI_RUNTIME_ID``; ``smi down`` uses it to find (and only
ever kill) processes of a runtime that died without cleaning up.  Every child also gets the
kernel's parent-death signal (``smi.runtime.lifeline``): it dies with the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from smi.runtime.backoff import Backoff
from smi.runtime.lifeline import die_with_parent

logger = logging.getLogger(__name__)

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    name: str
    state: str  # starting | running | backoff | stopped | failed
    pid: int | None
    restarts: int
    last_exit: int | None
    last_exit_at: float | None
    started_at: float | None
    next_start_in: float | None
    log: str


def kill_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when no such group exists any more."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    return kill_group(pgid, 0)


class Supervised:
    def __init__(
        self,
        *,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: str | None = None,
        backoff: Backoff = Backoff(),
        on_change: Callable[[], None] | None = None,
        before_start: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.backoff = backoff
        self.on_change = on_change
        self.before_start = before_start  # runs before every (re)start, e.g. a fresh one-time token
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.failures = 0
        self.last_exit: int | None = None
        self.last_exit_at: float | None = None
        self.started_at: float | None = None
        self._next_start: float | None = None
        self._state = "starting"
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"supervise {self.name}")

    def status(self) -> ProcessStatus:
        now = time.monotonic()
        return ProcessStatus(
            name=self.name,
            state=self._state,
            pid=self.pid,
            restarts=self.restarts,
            last_exit=self.last_exit,
            last_exit_at=self.last_exit_at,
            started_at=self.started_at,
            next_start_in=max(0.0, self._next_start - now) if self._next_start is not None else None,
            log=str(self.log_path),
        )

    def _set_state(self, state: str) -> None:
        self._state = state
        if self.on_change is not None:
            self.on_change()

    async def run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self._spawn()
            except OSError as exc:
                logger.error("%s: cannot start %s: %s", self.name, self.argv[0], exc)
                self._write_log(f"[smi] cannot start {self.argv!r}: {exc}\n")
                self.last_exit = -1
            else:
                assert self.process is not None
                self._set_state("running")
                code = await self.process.wait()
                kill_group(self.process.pid, signal.SIGKILL)  # what the crashed app left behind
                self.last_exit = code
                self.last_exit_at = time.time()
            if self._stopping.is_set():
                break
            self.failures = self.backoff.failures_after(previous=self.failures, ran_for=time.monotonic() - started)
            delay = self.backoff.delay(self.failures)
            logger.warning(
                "%s exited with %s; restarting in %.0f s (restart %d)",
                self.name,
                self.last_exit,
                delay,
                self.restarts + 1,
            )
            self._write_log(f"[smi] exited with {self.last_exit}; restarting in {delay:.0f} s\n")
            self._next_start = time.monotonic() + delay
            self._set_state("backoff")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            self._next_start = None
            if not self._stopping.is_set():
                self.restarts += 1
        self._set_state("stopped")

    async def _spawn(self) -> None:
        if self.before_start is not None:
            self.before_start()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(os.getpid()),
            )
        self.started_at = time.time()

    def _write_log(self, text: str) -> None:
        with contextlib.suppress(OSError), self.log_path.open("a") as log:
            log.write(text)

    async def stop(self, *, grace: float = STOP_GRACE) -> None:
        """Stop for good: SIGTERM the group, wait up to ``grace`` s, then SIGKILL it."""
        self._stopping.set()
        process = self.process
        if process is not None and process.returncode is None:
            pgid = process.pid  # session leader: pid == pgid
            kill_group(pgid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=grace)
            except TimeoutError:
                logger.warning("%s did not stop within %.1f s; killing it", self.name, grace)
            kill_group(pgid, signal.SIGKILL)  # whatever is left of the group
            await process.wait()
        if self._task is not None:
            await self._task
