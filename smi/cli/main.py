"""Entry point of the ``smi`` console script."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines ``register(subparsers) -> None`` and sets ``func`` on its parsers;
# ``func(args) -> int`` is the exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "smi.cli.proxy",
    "smi.cli.ca",
    "smi.cli.validate",
    "smi.cli.convert",
    "smi.cli.up",
    "smi.cli.apply",
    "smi.cli.delete",
    "smi.cli.get",
    "smi.cli.status",
    "smi.cli.down",
    "smi.cli.proxy_init",
    "smi.cli.webhook",
    "smi.cli.controller",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smi", description="smi-mesh: a Service Mesh Interface implementation")
    parser.add_argument("--version", action="version", version="smi-mesh 0.1.0")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
