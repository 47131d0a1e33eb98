"""``smi down``: stop the running local mesh and every process it started.

It asks the runtime to stop (the control API, or SIGTERM when the API does not answer, e.g.
while the runtime is still starting).  When the runtime is gone but left processes behind
(it was killed with SIGKILL), ``down`` finds them by the ``SMI_RUNTIME_ID`` recorded in the
state dir (``claim.json``, written before the first process starts, or ``runtime.json``)
and kills them, and removes the pods' bootstrap tokens it left (secrets all the same).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from smi.cli._runtime_client import add_state_dir
from smi.runtime import client, statefile, sweeping


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("down", help="stop the running local mesh")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for it to stop")
    add_state_dir(parser)
    parser.set_defaults(func=run)


def _ask_to_stop(directory: os.PathLike[str], runtime: sweeping.Recorded) -> None:
    info = statefile.read(statefile.state_dir(directory))
    if info is not None and info.runtime_id == runtime.runtime_id:
        try:
            client.call(info, "POST", "/v1/down", {}, timeout=5)
            return
        except (client.NotRunning, client.ApiError):
            pass
    try:
        os.kill(runtime.pid, signal.SIGTERM)  # the runtime stops on SIGTERM as on Ctrl-C
    except (ProcessLookupError, PermissionError) as exc:
        print(f"smi down: cannot signal the runtime (pid {runtime.pid}): {exc}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    directory = statefile.state_dir(args.state_dir)
    runtimes = sweeping.recorded(directory)
    if not runtimes:
        print(f"smi down: no local mesh is running here (no {directory / statefile.FILE_NAME})", file=sys.stderr)
        return 1
    me = os.getpid()
    for runtime in runtimes:
        if not statefile.runtime_alive(runtime.pid, runtime.start_ticks):
            continue
        _ask_to_stop(directory, runtime)
        deadline = time.monotonic() + args.timeout
        while statefile.runtime_alive(runtime.pid, runtime.start_ticks) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the runtime's exit, bounded by --timeout
        if statefile.runtime_alive(runtime.pid, runtime.start_ticks):
            print(
                f"smi down: the runtime (pid {runtime.pid}) did not stop within {args.timeout:.0f} s", file=sys.stderr
            )
            return 1
    killed = sweeping.sweep_dead(directory, me=me)
    if killed:
        print(f"smi down: killed {killed} process(es) left behind by a runtime that had died")
    print("local mesh stopped")
    return 0
