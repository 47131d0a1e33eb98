"""Cost of resilience when it does not trigger: CPU per request with every feature configured vs none.

A benchmark, not a test.  Same workload and machinery as ``bench/proxy_bench.py`` (whose
helpers it imports: HAProxy origin, ``wrk -t1 -c32``, the sidecar's CPU time from
``/proc/<pid>/stat`` per request), for these cases:

* ``outbound_plain``: ``smi proxy`` outbound, the one-hop config of proxy_bench, no policy
  (the mesh defaults still run: outlier detection, circuit limits, connect retries);
* ``outbound_resilience``: the same with an UpstreamTrafficPolicy's worth of settings on both
  clusters: request timeout, retries on 5xx/reset/429 with a per-try timeout and backoff, a
  retry budget, every circuit limit, outlier detection, a per-route retry override; none of
  it triggers (the origin answers 200 within the timeouts, far below the limits);
* ``inbound_plain`` / ``inbound_ratelimited``: the inbound listener without and with a
  RateLimitPolicy (total, per identity, an override) set far above the load;
* ``haproxy``: HAProxy (nbthread 1, one hop, ``http-reuse always``) in the sidecar's place, the
  anchor of ``proxy_bench``: the summary gives the sidecar's CPU per request over HAProxy's.

The issue's target: ``outbound_resilience`` at most 10% more CPU per request than
``outbound_plain``.  Writes ``bench/results/resilience.json``; every figure is the median of
``--repeat`` runs.  Run: ``python bench/resilience_bench.py [--duration 10] [--repeat 3]``.
Needs ``haproxy`` and ``wrk`` (Debian).  On the shared 2-core machine the figures are noisy:
compare the ratios, and re-run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proxy_bench as pb  # the shared machinery (bench/ is not a package)

RESULTS = pb.REPO / "bench" / "results" / "resilience.json"

RESILIENCE: dict[str, Any] = {
    "policy": "default/web",
    "request_timeout_ms": 5000,
    "connect_timeout_ms": 1000,
    "idle_timeout_ms": 300000,
    "retry": {
        "retry_on": ["5xx", "reset", "retriable-status-codes"],
        "status_codes": [429],
        "max_retries": 3,
        "per_try_timeout_ms": 2000,
        "backoff_base_ms": 25,
        "backoff_max_ms": 250,
        "retry_non_idempotent": False,
    },
    "budget": {"retry_ratio": 0.2, "min_retries_per_second": 10, "ttl_ms": 10000},
    "circuit": {"max_connections": 1024, "max_pending": 1024, "max_requests": 1024, "max_retries": 3},
    "outliers": {
        "enabled": True,
        "consecutive_failures": 7,
        "base_ejection_ms": 1000,
        "max_ejection_ms": 60000,
        "max_ejection_percent": 50,
    },
    "routes": [
        {
            "name": "default/web/routes",
            "matches": [{"name": "api", "path_regex": "/api", "methods": ["POST"], "headers": []}],
            "request_timeout_ms": 1000,
            "retry": None,
        }
    ],
}
RATE_LIMITS = [
    {
        "policy": "default/web",
        "ports": [],
        "total_rps": 10_000_000,
        "identity_rps": 5_000_000,
        "overrides": [[pb.CLIENT_ID, 8_000_000]],
        "connections_per_second": 0,
    },
]


def configs(origin_port: int) -> dict[str, dict[str, Any]]:
    base = pb.proxy_config(origin_port=origin_port, mesh_inbound_port=pb.free_port(pb.SERVER_IP))
    plain_out, server = base["one_hop"], base["server"]
    guarded = json.loads(json.dumps(plain_out))
    for cluster in guarded["outbound"]["clusters"]:
        cluster["resilience"] = RESILIENCE
    limited = json.loads(json.dumps(server))
    limited["inbound"]["rate_limits"] = RATE_LIMITS
    return {
        "outbound_plain": plain_out,
        "outbound_resilience": guarded,
        "inbound_plain": server,
        "inbound_ratelimited": limited,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="wrk seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--proxy-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    missing = [tool for tool in ("haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install -y {' '.join(missing)})", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="resilience-bench-"))
    origin_port = pb.free_port()
    (tmp / "origin.cfg").write_text(
        pb.haproxy_cfg(
            f"frontend origin\n  bind 127.0.0.1:{origin_port}\n"
            '  http-request return status 200 content-type text/plain string "hello from origin"\n'
        )
    )
    for name, cfg in configs(origin_port).items():
        (tmp / f"{name}.json").write_text(json.dumps(cfg))
    cases: dict[str, Any] = {}
    results = {
        "machine": {"cpus": os.cpu_count(), "note": "2-core dev machine shared with other work: noisy"},
        "workload": "GET / small body, keep-alive; wrk -t1 -c32",
        "repeat": args.repeat,
        "cases": cases,
    }
    lb_port = pb.free_port()
    (tmp / "lb.cfg").write_text(
        pb.haproxy_cfg(
            f"frontend fe\n  bind 127.0.0.1:{lb_port}\n  default_backend be\n"
            f"backend be\n  http-reuse always\n  server s1 127.0.0.1:{origin_port}\n"
        )
    )
    origin = ["haproxy", "-db", "-f", str(tmp / "origin.cfg")]
    with pb.process(origin, cpu=args.load_cpu, port=("127.0.0.1", origin_port)):
        for name in ("haproxy", "outbound_plain", "outbound_resilience", "inbound_plain", "inbound_ratelimited"):
            listen = pb.free_port()
            if name == "haproxy":
                listen, cmd = lb_port, ["haproxy", "-db", "-f", str(tmp / "lb.cfg")]
            elif name.startswith("outbound"):
                cmd = pb.smi_proxy(
                    tmp / f"{name}.json", outbound=listen, inbound=("127.0.0.1", 0), admin=pb.free_port()
                )
            else:
                cmd = pb.smi_proxy(
                    tmp / f"{name}.json", outbound=pb.free_port(), inbound=("127.0.0.1", listen), admin=pb.free_port()
                )
            with pb.process(cmd, cpu=args.proxy_cpu, port=("127.0.0.1", listen)) as proc:
                time.sleep(0.5)
                runs = []
                for _ in range(max(1, args.repeat)):
                    before = pb.cpu_seconds(proc.pid)
                    sat = pb.run_wrk(listen, duration=args.duration, cpu=args.load_cpu)
                    used = pb.cpu_seconds(proc.pid) - before
                    sat["cpu_us_per_request"] = round(used / sat["requests"] * 1e6, 2) if sat["requests"] else 0.0
                    runs.append(sat)
                cases[name] = {
                    "requests_per_second": pb.median([r["requests_per_second"] for r in runs]),
                    "cpu_us_per_request": pb.median([r["cpu_us_per_request"] for r in runs]),
                    "non_2xx": max(r["non_2xx"] for r in runs),
                    "runs": runs,
                }
                c = cases[name]
                print(
                    f"{name:22s} {c['requests_per_second']:9.0f} req/s  {c['cpu_us_per_request']:7.1f} us CPU/req  "
                    f"non-2xx {c['non_2xx']}",
                    flush=True,
                )

    def ratio(a: str, b: str) -> float:
        return round(float(cases[a]["cpu_us_per_request"]) / float(cases[b]["cpu_us_per_request"]), 3)

    results["summary"] = {
        "outbound_resilience_vs_plain_cpu": ratio("outbound_resilience", "outbound_plain"),
        "inbound_ratelimited_vs_plain_cpu": ratio("inbound_ratelimited", "inbound_plain"),
        "outbound_plain_vs_haproxy_cpu": ratio("outbound_plain", "haproxy"),
        "outbound_resilience_vs_haproxy_cpu": ratio("outbound_resilience", "haproxy"),
        "target": "outbound_resilience_vs_plain_cpu <= 1.10",
    }
    print(json.dumps(results["summary"]), flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
