"""Soak: a sidecar's RSS while clients open new connections (``Connection: close``) through it.

Issue 13 found ~6 KB kept per new outbound mTLS connection (33,000 such requests grew
bookbuyer's sidecar from 40 to 169 MB).  This starts a real ``smi up`` mesh (strict mTLS),
sends requests through the buyer pod's sidecar outbound listener, each on a new client
connection, and prints the sidecar's RSS (``/proc/<pid>/status`` VmRSS) at the start and
after each checkpoint (default 10,000 and 100,000 connections).  Flat is the target.
Bounded in time (``--max-seconds``): it prints how far it got.

    python bench/sidecar_churn_soak_bench.py [--checkpoints 10000,100000] [--workers 8] [--max-seconds 600]

Writes ``bench/results/sidecar_churn_soak.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.drills.load import Load
from tests.drills.scenarios import URL, buyer_proxy, mesh_in, write_mesh

RESULTS = Path(__file__).parent / "results" / "sidecar_churn_soak.json"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="10000,100000")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="smi-soak-") as tmp:
        work = Path(tmp)
        write_mesh(work / "manifests")
        with mesh_in(work, work / "manifests") as mesh:
            proxy = buyer_proxy(mesh)
            buyer = mesh.pods("buyer")[0]
            pid = next(p["pid"] for p in buyer["processes"] if p["name"].endswith("/sidecar"))
            start = time.monotonic()
            rows.append({"connections": 0, "rss_mb": round(rss_mb(pid), 1), "failed": 0, "seconds": 0.0})
            print(f"buyer sidecar pid {pid}: {rows[0]['rss_mb']} MB before", flush=True)
            load = Load(
                proxy=proxy, url=URL, workers=args.workers, rate=0, max_requests=checkpoints[-1],
                max_seconds=args.max_seconds, new_connection_each=True,
            )  # fmt: skip
            with load:
                for checkpoint in checkpoints:
                    while load.tally.sent < checkpoint and time.monotonic() - start < args.max_seconds:
                        time.sleep(0.2)  # sampling the counter, bounded by --max-seconds
                    row = {
                        "connections": load.tally.sent,
                        "rss_mb": round(rss_mb(pid), 1),
                        "failed": load.tally.failed,
                        "seconds": round(time.monotonic() - start, 1),
                    }
                    rows.append(row)
                    print(f"after {row['connections']:>7} new connections: {row['rss_mb']} MB "
                          f"({row['failed']} failed, {row['seconds']} s)", flush=True)  # fmt: skip
                    if load.tally.sent < checkpoint:
                        print(f"stopped at the {args.max_seconds:.0f} s bound before {checkpoint}")
                        break
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"python": platform.python_version(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
