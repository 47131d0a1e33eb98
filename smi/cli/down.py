"""``smi down``: stop the running local mesh and every process it started.

When the runtime is gone but left processes behind (it was killed with SIGKILL), ``down``
finds them by the ``SMI_RUNTIME_ID`` in their environment and kills them, and removes the
pods' bootstrap tokens it left in the state dir (useless without it, but secrets all the same).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from smi.cli._runtime_client import add_state_dir
from smi.runtime import client, leftovers, statefile


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("down", help="stop the running local mesh")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for it to stop")
    add_state_dir(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    directory = statefile.state_dir(args.state_dir)
    info = statefile.read(directory)
    if info is None:
        print(f"smi down: no local mesh is running here (no {directory / statefile.FILE_NAME})", file=sys.stderr)
        return 1
    if statefile.pid_alive(info.pid):
        try:
            client.call(info, "POST", "/v1/down", {})
        except (client.NotRunning, client.ApiError) as exc:
            print(f"smi down: {exc}", file=sys.stderr)
        deadline = time.monotonic() + args.timeout
        while statefile.pid_alive(info.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the runtime's exit, bounded by --timeout
        if statefile.pid_alive(info.pid):
            print(f"smi down: the runtime (pid {info.pid}) did not stop within {args.timeout:.0f} s", file=sys.stderr)
            return 1
    killed = leftovers.kill_all(info.runtime_id)
    if killed:
        print(f"smi down: killed {killed} process(es) left behind by runtime {info.runtime_id[:8]}")
    shutil.rmtree(directory / "pods", ignore_errors=True)  # smi.runtime.mtls.PODS_DIR: the pods' tokens
    statefile.remove(directory, runtime_id=info.runtime_id)
    print("local mesh stopped")
    return 0
