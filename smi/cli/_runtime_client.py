"""Shared bits of the commands that talk to a running local mesh (apply, delete, get, status, down)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from smi.runtime import client, statefile


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", help="the running mesh's state dir (default $SMI_STATE_DIR or ./.smi)")


def add_filenames(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="PATH",
        help="file, folder (recursive) or - for stdin; repeatable",
    )


def send_documents(
    args: argparse.Namespace, *, command: str, answer_key: str, failed: Callable[[str], bool] | None = None
) -> int:
    """Read ``args.filename``, POST them to ``/v1/<command>``, print the answer's ``answer_key`` lines.

    Unreadable manifests are printed to stderr and nothing is sent (exit 1).  The exit code
    is 1 when ``failed`` holds for any printed line, else 0.
    """
    docs, problems = client.read_documents(args.filename)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1

    def body(info: statefile.RuntimeInfo) -> int:
        answer = client.call(info, "POST", f"/v1/{command}", {"documents": docs})
        lines = answer.get(answer_key, [])
        for line in lines:
            print(line)
        return 1 if failed is not None and any(failed(line) for line in lines) else 0

    return with_runtime(command, body, args)


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
