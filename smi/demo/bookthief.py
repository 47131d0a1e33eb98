"""The demo bookthief: tries to take books like the buyer does, as an identity no
TrafficTarget lets in, so the mesh answers 403.  Same environment and output as ``bookbuyer``
(default rate 2/s)."""

from __future__ import annotations

import sys

from smi.demo.bookbuyer import run_from_env


def main() -> int:
    return run_from_env(name="bookthief", doing="stealing from", default_rate="2")


if __name__ == "__main__":
    sys.exit(main())
