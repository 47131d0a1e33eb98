"""``smi delete -f PATH``: remove the objects a manifest names from the running local mesh.

An object that comes from the watched folder stays deleted until its file changes again.
The exit code is 1 when any named object was not found.
"""

from __future__ import annotations

import argparse

from smi.cli._runtime_client import add_filenames, add_state_dir, send_documents


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("delete", help="delete the objects of manifests from the running local mesh")
    add_filenames(parser)
    add_state_dir(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return send_documents(args, command="delete", answer_key="deleted", failed=lambda line: line.endswith("not found"))
