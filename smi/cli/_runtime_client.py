"""Shared bits of the commands that talk to a running local mesh (apply, delete, get, status, down)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from smi.runtime import client, statefile


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", help="the running mesh's state dir (default $SMI_STATE_DIR or ./.smi)")


def with_runtime(command: str, body: Callable[[statefile.RuntimeInfo], int], args: argparse.Namespace) -> int:
    try:
        info = client.find(statefile.state_dir(args.state_dir))
        return body(info)
    except client.NotRunning as exc:
        print(f"smi {command}: {exc}", file=sys.stderr)
        return 1
    except client.ApiError as exc:
        print(f"smi {command}: {_error_text(exc.body)}", file=sys.stderr)
        return 1


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        if body.get("problems"):
            return "\n".join(str(p) for p in body["problems"])
        if body.get("error"):
            return str(body["error"])
    return str(body)
