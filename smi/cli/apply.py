"""``smi apply -f PATH``: add or change objects in the running local mesh."""

from __future__ import annotations

import argparse
import sys

from smi.cli._runtime_client import add_state_dir, with_runtime
from smi.runtime import client, statefile


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("apply", help="apply manifests to the running local mesh")
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
        answer = client.call(info, "POST", "/v1/apply", {"documents": docs})
        for line in answer.get("applied", []):
            print(line)
        return 0

    return with_runtime("apply", body, args)
