"""Entry point of the ``smi`` console script."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines ``register(subparsers) -> None`` and sets ``func`` on its parsers;
# ``func(args) -> int`` is the exit code.  The key is the sub-command's name: only the
# module of the command being run is imported, so ``smi proxy`` never loads kopf or the
# kubernetes client (its memory footprint is part of the sidecar's).
COMMANDS: dict[str, str] = {
    "up": "smi.cli.up",
    "down": "smi.cli.down",
    "status": "smi.cli.status",
    "apply": "smi.cli.apply",
    "delete": "smi.cli.delete",
    "get": "smi.cli.get",
    "validate": "smi.cli.validate",
    "convert": "smi.cli.convert",
    "controller": "smi.cli.controller",
    "proxy": "smi.cli.proxy",
    "proxy-init": "smi.cli.proxy_init",
    "webhook": "smi.cli.webhook",
    "ca": "smi.cli.ca",
    "install": "smi.cli.install",
    "upgrade": "smi.cli.install",
    "uninstall": "smi.cli.install",
    "check": "smi.cli.check",
    "inject": "smi.cli.inject",
    "namespace": "smi.cli.namespace",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))


def _command_of(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``command`` given) one that knows only that sub-command."""
    parser = argparse.ArgumentParser(prog="smi", description="smi-mesh: a Service Mesh Interface implementation")
    parser.add_argument("--version", action="version", version="smi-mesh 0.1.0")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = (COMMANDS[command],) if command is not None else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
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
