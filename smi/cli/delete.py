"""``smi delete -f PATH``: remove the objects a manifest names from the running local mesh.

An object that comes from the watched folder stays deleted until its file changes again.
"""

from __future__ import annotations

import argparse
import sys

from smi.cli._runtime_client import add_state_dir, with_runtime
from smi.runtime import client, statefile


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("delete", help="delete the objects of manifests from the running local mesh")
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="PATH",
        help="file, folder (recursive) or - for stdin; repeatable",
    )
    add_state_dir(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    docs, problems = client.read_documents(args.filename)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1

    def body(info: statefile.RuntimeInfo) -> int:
        answer = client.call(info, "POST", "/v1/delete", {"documents": docs})
        for line in answer.get("deleted", []):
            print(line)
        return 1 if any(line.endswith("not found") for line in answer.get("deleted", [])) else 0

    return with_runtime("delete", body, args)
