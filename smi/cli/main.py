"""Entry point of the ``smi`` console script."""

from __future__ import annotations

import argparse
import importlib
import os
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
    "stat": "smi.cli.stat",
    "edges": "smi.cli.edges",
    "top": "smi.cli.top",
    "metrics-api": "smi.cli.metrics_api",
    "install": "smi.cli.install",
    "upgrade": "smi.cli.install",
    "uninstall": "smi.cli.install",
    "check": "smi.cli.check",
    "inject": "smi.cli.inject",
    "namespace": "smi.cli.namespace",
    "dashboard": "smi.cli.dashboard",
    "tap": "smi.cli.tap",
    "monitor": "smi.cli.monitor",
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
    except BrokenPipeError:  # `smi get ... | head`: a closed pipe is a quiet exit
        _silence_stdout()
        return 0
    except OSError as exc:  # a port in use, a missing permission, ...: one line, not a traceback
        print(f"smi {args.command}: {one_line(exc)}", file=sys.stderr)
        return 1
    return code


def one_line(exc: OSError) -> str:
    """``[Errno 98] error while ...: address already in use`` -> ``error while ...: address already in use``."""
    text = str(exc)
    if text.startswith("[Errno"):
        text = text.split("] ", 1)[-1]
    return text or type(exc).__name__


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
