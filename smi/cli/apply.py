"""``smi apply -f PATH``: add or change objects in the running local mesh."""

from __future__ import annotations

import argparse

from smi.cli._runtime_client import add_filenames, add_state_dir, send_documents


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("apply", help="apply manifests to the running local mesh")
    add_filenames(parser)
    add_state_dir(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return send_documents(args, command="apply", answer_key="applied")
