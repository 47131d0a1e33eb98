"""The reliability drills of issue 13, as figures: per drill, requests sent, failed, and recovered time.

Each drill starts a real ``smi up`` mesh (bookstore + a buyer pod whose sidecar carries the
load), runs a fixed-rate load (``--workers`` kept-alive clients at ``--rate`` requests/s
each) through the buyer's sidecar, makes its change, waits until the change is visible in
the answers, and stops.  "Recovered in" is the time from the first failed request to the
last (0 when none failed).  Drills (``tests/drills/scenarios.py``): weight-edit,
rolling-update, pod-stop, sidecar-restart-second-replica, control-plane-pause, and
controller-restart (kopf on kmock feeding real sidecars, ``tests/drills/controller_drill.py``).

    python bench/drills.py [--drill NAME ...] [--workers 4] [--rate 100]

Writes ``bench/results/drills.json``.  Figures from a shared, loaded machine are only
indicative; the failed-request counts are the point.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.drills.scenarios import DRILLS

RESULTS = Path(__file__).parent / "results" / "drills.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drill", action="append", choices=sorted(DRILLS), help="run only these (repeatable)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    rows = []
    for name in args.drill or list(DRILLS):
        with tempfile.TemporaryDirectory(prefix="smi-drill-") as tmp:
            started = time.monotonic()
            try:
                result = DRILLS[name](Path(tmp), workers=args.workers)
            except AssertionError as exc:  # a drill that could not complete: say so, go on
                print(f"{name:<34} did not complete: {exc}", flush=True)
                rows.append({"drill": name, "error": str(exc)})
                continue
            took = time.monotonic() - started
        print(f"{result.line()}  ({took:.0f} s)", flush=True)
        for failure in result.failures:
            print(f"    {failure}")
        rows.append({**asdict(result), "seconds": round(took, 1)})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"python": platform.python_version(), "workers": args.workers, "drills": rows}, indent=2) + "\n"
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
