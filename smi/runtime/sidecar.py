"""Entry point the runtime starts each sidecar with: ``python -m smi.runtime.sidecar <smi proxy flags>``.

It is exactly ``smi proxy`` (the same flags, parsed by ``smi.cli.proxy``), without importing
every other ``smi`` sub-command first: a pod's sidecar is up a second sooner that way, which
is most of the time ``smi up`` takes to serve.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from smi.cli import proxy

    parser = argparse.ArgumentParser(prog="smi")
    subparsers = parser.add_subparsers(dest="command")
    proxy.register(subparsers)
    args = parser.parse_args(["proxy", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
