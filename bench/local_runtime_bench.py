"""Local runtime benchmark: how fast ``smi up`` serves, and how fast a saved edit reaches traffic.

Not a test: it prints its figures and writes them to ``bench/results/local_runtime.json``.

1. **Up to serving**: from starting ``smi up -f <copy of manifests/demo>`` to the bookbuyer's
   first successful purchase (its log shows ``200 bookstore …``), over ``--runs`` cold starts.
2. **Saved file to traffic**: with the demo running and the buyer at ``--rate`` requests per
   second, the TrafficSplit file is rewritten ``--changes`` times, alternating all-v1 and
   all-v2; each sample is the time from the write to the buyer's first answer from the newly
   chosen version.  The buyer's request interval (1/rate) bounds the resolution; the log is
   polled every 2 ms.

Targets (issue 5): up to serving under 5 s; saved file to traffic p99 under 1 s.  ``smi up``
runs with strict mTLS by default (issue 6): each cold start creates the CA in a fresh state
dir and every sidecar gets its certificate before it serves; ``--mtls off`` measures the
plain-text mesh for comparison.
Usage: ``python bench/local_runtime_bench.py [--runs 3] [--changes 20] [--rate 200] [--mtls strict|permissive|off]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from smi.runtime import statefile
from smi.runtime.launching import UpProcess

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "manifests" / "demo"
SPLIT = """\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata:
  name: bookstore-split
  namespace: bookstore
spec:
  service: bookstore
  backends:
    - service: bookstore-v1
      weight: {v1}
    - service: bookstore-v2
      weight: {v2}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


class Demo:
    def __init__(self, work: Path, *, base: str, rate: int, mtls: str = "strict") -> None:
        self.folder = work / "manifests"
        shutil.copytree(DEMO, self.folder)
        clients = self.folder / "20-clients.yaml"
        clients.write_text(clients.read_text().replace('value: "20"', f'value: "{rate}"', 1))
        self.started = time.perf_counter()
        self.up = UpProcess(
            folder=self.folder, work=work, address_base=base, dashboard="off", extra_args=("--mtls", mtls)
        )
        self.state = self.up.state_dir

    def buyer_log(self) -> Path | None:
        found = sorted((self.state / "logs" / "bookstore").glob("bookbuyer-*/bookbuyer.log"))
        return found[-1] if found else None

    def wait_first_purchase(self, limit: float = 60.0) -> float:
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            log = self.buyer_log()
            if log is not None and b"\n200 bookstore" in b"\n" + log.read_bytes():
                return time.perf_counter() - self.started
            time.sleep(0.005)  # polling the log (bounded by the deadline)
        raise RuntimeError("the demo did not serve within the time limit")

    def stop(self) -> None:
        """Stop ``smi up`` and everything it started (its group, then any process of its runtime id)."""
        info = statefile.read(self.state)
        self.up.stop(info.runtime_id if info is not None else None)


def change_to_traffic(demo: Demo, *, changes: int) -> list[float]:
    log = demo.buyer_log()
    assert log is not None
    split = demo.folder / "30-split.yaml"
    samples = []
    for i in range(changes):
        version = "v2" if i % 2 == 0 else "v1"
        offset = log.stat().st_size
        t0 = time.perf_counter()
        split.write_text(SPLIT.format(v1=0 if version == "v2" else 100, v2=100 if version == "v2" else 0))
        deadline = t0 + 10.0
        needle = f"200 bookstore {version} ".encode()
        while True:
            with log.open("rb") as f:
                f.seek(offset)
                if needle in f.read():
                    break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"change {i + 1}: traffic did not move to {version} within 10 s")
            time.sleep(0.002)  # polling the log (bounded by the deadline)
        samples.append(time.perf_counter() - t0)
        # let the previous version's stragglers drain before the next change
        time.sleep(0.3)  # pacing between samples, not synchronisation
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--mtls", choices=("strict", "permissive", "off"), default="strict")
    args = parser.parse_args()
    startups: list[float] = []
    changes: list[float] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="smi-bench-") as tmp:
            demo = Demo(Path(tmp), base=f"127.{240 + run}.0.0", rate=args.rate, mtls=args.mtls)
            try:
                startups.append(demo.wait_first_purchase())
                print(f"run {run + 1}: smi up -> first purchase {startups[-1]:.2f} s", flush=True)
                if run == args.runs - 1:
                    changes = change_to_traffic(demo, changes=args.changes)
            finally:
                demo.stop()
    result = {
        "up_to_first_success_seconds": {
            "runs": [round(x, 4) for x in startups],
            "median": round(statistics.median(startups), 4),
            "max": round(max(startups), 4),
            "target": 5.0,
        },
        "saved_file_to_traffic_seconds": {
            "samples": [round(x, 4) for x in changes],
            "p50": round(percentile(changes, 0.5), 4),
            "p99": round(percentile(changes, 0.99), 4),
            "target_p99": 1.0,
            "client_rate_rps": args.rate,
        },
        "mtls": args.mtls,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "note": "2-core shared machine, other work running: figures are noisy",
    }
    print(
        f"smi up (mtls {args.mtls}) -> demo serving: median {result['up_to_first_success_seconds']['median']:.2f} s "
        f"(max {result['up_to_first_success_seconds']['max']:.2f} s; target < 5 s)"
    )
    print(f"saved file -> traffic change: p50 {result['saved_file_to_traffic_seconds']['p50'] * 1000:.0f} ms, "
          f"p99 {result['saved_file_to_traffic_seconds']['p99'] * 1000:.0f} ms over {len(changes)} changes "
          "(target p99 < 1 s)")  # fmt: skip
    out = REPO / "bench" / "results" / "local_runtime.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
