"""Cluster mode on the stand-in cluster: install, leader election, admission latency, failover, rotation.

Not a test: it prints its figures and writes them to ``bench/results/cluster.json``.

    python bench/cluster_bench.py [--pods 50]

On the stand-in of ``tests/cluster/`` (kmock's emulator as the API server, the real
webhook called over HTTPS for every pod, two real control-plane replicas):

* ``install_seconds``: applying ``smi install --dry-run`` output (CRDs, RBAC, Deployment, ...);
* ``first_leader_seconds``: from starting the two replicas until one holds the Lease;
* ``admission_ms``: p50/p95/max of a pod create through admission (webhook call, JSON Patch);
* ``failover_seconds``: from SIGKILL of the leader to the follower holding the Lease
  (``--lease-duration 3``: a survivor sees the Lease expire after 3 s and checks every 1 s);
* ``reinstall_seconds``: a second ``smi install`` that changes nothing.

Measured on a shared, loaded machine unless stated otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


async def measure(pods: int) -> dict[str, object]:
    from tests.cluster.world import ClusterWorld

    with tempfile.TemporaryDirectory(prefix="smi-cluster-bench-") as tmp:
        world = ClusterWorld(Path(tmp))
        started = time.perf_counter()
        try:
            await world.start()  # includes install + replicas + leader
            standin = world.standin
            assert standin is not None and standin.control_plane is not None
            startup = time.perf_counter() - started
            t = time.perf_counter()
            again = await standin.run_smi("install", "--lease-duration", "3", "--drain-grace", "0")
            reinstall = time.perf_counter() - t
            assert again.code == 0 and "0 object(s) changed" in again.out, again
            meta = {"name": "bench", "labels": {"smi-mesh.io/monitored-by": "x"}}
            await standin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
            latencies = []
            for i in range(pods):
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i}", "namespace": "bench"},
                       "spec": {"containers": [{"name": "app", "image": "app"}]}}  # fmt: skip
                t = time.perf_counter()
                status, body = await standin.create("/api/v1/namespaces/bench/pods", pod)
                latencies.append((time.perf_counter() - t) * 1000)
                assert status < 300, body
            holder = await standin.lease_holder()
            plane = standin.control_plane
            leader = next(r for r in plane.replicas if r.name == holder)
            t = time.perf_counter()
            await plane.kill(leader)
            deadline = t + 60
            while (await standin.lease_holder()) in (None, holder):
                assert time.perf_counter() < deadline, "no failover within 60 s"
                await asyncio.sleep(0.05)
            failover = time.perf_counter() - t
        finally:
            await world.close()
    latencies.sort()
    return {
        "startup_seconds_install_replicas_leader": round(startup, 2),
        "reinstall_seconds": round(reinstall, 2),
        "admission_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(latencies[int(len(latencies) * 0.95) - 1], 2),
            "max": round(latencies[-1], 2),
            "pods": pods,
        },
        "failover_seconds": round(failover, 2),
        "lease_duration_seconds": 3,
        "note": "measured on a shared, loaded 2-core machine",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50, help="pods created through admission (default 50)")
    args = parser.parse_args()
    result = asyncio.run(measure(max(args.pods, 1)))
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results" / "cluster.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
