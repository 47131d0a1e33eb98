"""Pods die with their runtime, whatever kills it.

Two mechanisms, because either alone leaves a gap:

* ``die_with_parent`` (a ``preexec_fn``): the kernel's parent-death signal
  (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) on every process the runtime starts directly.  The
  signal fires when the *thread* that forked the child ends; the runtime forks from its event
  loop's thread, the main thread, which lives as long as the runtime does.
* ``Lifeline``: one small watchdog process per runtime (``python -m smi.runtime.lifeline``)
  holding the read end of a pipe whose write end only the runtime has.  When the runtime is
  gone, however it went (SIGKILL included), the kernel closes the write end, the watchdog
  reads end-of-file and kills every process that still carries this runtime's
  ``SMI_RUNTIME_ID`` (the whole process tree: grandchildren inherit the environment) and
  their process groups, then exits.  It never touches any other runtime's processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from smi.runtime import leftovers

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: SIGKILL the child when the thread (of process ``parent``) that forked it ends."""

    def arm() -> None:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: die now, as it would have
            os._exit(137)

    return arm


class Lifeline:
    """The runtime's end of the watchdog: ``start()`` once, ``release()`` at a clean exit."""

    def __init__(self, runtime_id: str) -> None:
        self.runtime_id = runtime_id
        self._write_fd: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_inheritable(write_fd, False)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "smi.runtime.lifeline", self.runtime_id],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to the terminal's process group must not reach it
                close_fds=True,
                env={k: v for k, v in os.environ.items() if k != leftovers.MARKER},
            )
        finally:
            os.close(read_fd)
        self._write_fd = write_fd

    def release(self) -> None:
        """A clean exit: let the watchdog sweep (nothing should be left) and end."""
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
            self._process = None


def watch(runtime_id: str) -> int:
    """The watchdog: block until stdin (the pipe) ends, then kill what the runtime left."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            if not os.read(0, 4096):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    # twice: a process forking while we sweep is caught by the second pass
    leftovers.kill_all(runtime_id)
    leftovers.kill_all(runtime_id)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1]:
        print("usage: python -m smi.runtime.lifeline RUNTIME_ID", file=sys.stderr)
        sys.exit(2)
    sys.exit(watch(sys.argv[1]))
