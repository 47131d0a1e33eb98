"""Benchmark of monitoring on demand: the sidecars' exported series and CPU per request at each level.

The full mesh path of ``proxy_bench.py`` (client -> client sidecar outbound -> PROXY v2 ->
server sidecar inbound -> HAProxy origin), with 8 routes on each side (a TrafficSplit per
path ``/r0``..``/r7`` on the client, an allow rule per path on the server) and the
ProxyConfig's ``monitoring`` set to ``routes``, ``golden`` or ``off``.  ``wrk -t1 -c32``
cycles through the 8 paths; each sidecar's ``/metrics`` is scraped once a second meanwhile
(a busy Prometheus), so the scrape's cost is in the figure.  Per level it reports:

* ``series``: the samples both sidecars export (every line of ``/metrics`` that is not a
  comment), ``request_series``: those of ``smi_requests_total``, and the exposition's size;
* ``cpu_us_per_request``: the CPU time (utime + stime from ``/proc``) of both sidecars per
  request, and the requests per second.

Levels are measured in interleaved rounds (routes, golden, off, routes, ...) so that drift on
a shared machine spreads over all of them; the median of the rounds is reported.  Placement
as ``proxy_bench.py``: sidecars on CPU 0, wrk and the origin on CPU 1.  Writes
``bench/results/monitoring.json``.  Needs ``haproxy`` and ``wrk`` (Debian).

Run: ``python bench/monitoring_bench.py [--duration 5] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import (
    SERVER_IP,
    cpu_seconds,
    free_port,
    haproxy_cfg,
    median,
    process,
    proxy_config,
    smi_proxy,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "monitoring.json"
LEVELS = ("routes", "golden", "off")
ROUTES = 8
WRK_SCRIPT = f"""
local i = 0
request = function()
  i = (i + 1) % {ROUTES}
  return wrk.format("GET", "/r" .. i)
end
"""


def configs(*, origin_port: int, mesh_inbound_port: int, level: str) -> dict[str, Any]:
    """The client and server sidecars' configs of proxy_bench, with one route per path and ``level``."""
    base = proxy_config(origin_port=origin_port, mesh_inbound_port=mesh_inbound_port)
    client, server = copy.deepcopy(base["client"]), copy.deepcopy(base["server"])
    port = client["outbound"]["services"][0]["ports"][0]
    split = port["splits"][0]
    port["splits"] = [
        {**split, "name": f"default/web-split-{i}", "matches": [{**split["matches"][0], "path_regex": f"/r{i}$"}]}
        for i in range(ROUTES)
    ]
    rule = server["inbound"]["rules"][0]
    server["inbound"]["rules"] = [
        {**rule, "name": f"default/web-access/HTTPRouteGroup/r{i}",
         "matches": [{**rule["matches"][0], "path_regex": f"/r{i}$"}]}
        for i in range(ROUTES)
    ]  # fmt: skip
    return {"client": {**client, "monitoring": level}, "server": {**server, "monitoring": level}}


def scrape(admin: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as response:
        return str(response.read().decode())


def series(text: str) -> dict[str, int]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {"series": len(lines), "request_series": sum(1 for x in lines if x.startswith("smi_requests_total{")),
            "bytes": len(text.encode())}  # fmt: skip


def run_wrk(port: int, script: Path, *, duration: int, cpu: str) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c32", f"-d{duration}s", "-s", str(script), "-H", "Host: web", f"http://127.0.0.1:{port}/"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cpu, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_second": float(rps.group(1)) if rps else 0.0, "requests": int(total.group(1)) if total else 0,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}  # fmt: skip


def one_round(level: str, tmp: Path, *, origin_port: int, args: argparse.Namespace) -> dict[str, Any]:
    mesh_inbound, c_out, admin_c, admin_s = free_port(SERVER_IP), free_port(), free_port(), free_port()
    for name, cfg in configs(origin_port=origin_port, mesh_inbound_port=mesh_inbound, level=level).items():
        (tmp / f"{name}-{level}.json").write_text(json.dumps(cfg))
    server_cmd = smi_proxy(tmp / f"server-{level}.json", outbound=free_port(), inbound=(SERVER_IP, mesh_inbound),
                           admin=admin_s)  # fmt: skip
    client_cmd = smi_proxy(tmp / f"client-{level}.json", outbound=c_out, inbound=("127.0.0.1", 0), admin=admin_c)
    with (
        process(server_cmd, cpu=args.proxy_cpu, port=(SERVER_IP, mesh_inbound)) as ps,
        process(client_cmd, cpu=args.proxy_cpu, port=("127.0.0.1", c_out)) as pc,
    ):
        pids = [pc.pid, ps.pid]
        run_wrk(c_out, tmp / "paths.lua", duration=1, cpu=args.load_cpu)  # warm-up: every route seen once
        stop = threading.Event()

        def scraper() -> None:
            while not stop.wait(1.0):
                for admin in (admin_c, admin_s):
                    scrape(admin)

        thread = threading.Thread(target=scraper, daemon=True)
        before = sum(cpu_seconds(p) for p in pids)
        thread.start()
        sat = run_wrk(c_out, tmp / "paths.lua", duration=args.duration, cpu=args.load_cpu)
        stop.set()
        thread.join(timeout=10)
        used = sum(cpu_seconds(p) for p in pids) - before
        client, server = series(scrape(admin_c)), series(scrape(admin_s))
    return {
        **sat,
        "cpu_us_per_request": round(used / sat["requests"] * 1e6, 2) if sat["requests"] else None,
        "series": client["series"] + server["series"],
        "request_series": client["request_series"] + server["request_series"],
        "exposition_bytes": client["bytes"] + server["bytes"],
        "by_sidecar": {"client": client, "server": server},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="wrk seconds per level and round")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--proxy-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    missing = [tool for tool in ("haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install -y {' '.join(missing)})", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="monitoring-bench-"))
    (tmp / "paths.lua").write_text(WRK_SCRIPT)
    origin_port = free_port()
    (tmp / "origin.cfg").write_text(
        haproxy_cfg(
            f"frontend origin\n  bind 127.0.0.1:{origin_port}\n"
            '  http-request return status 200 content-type text/plain string "hello from origin"\n'
        )
    )
    runs: dict[str, list[dict[str, Any]]] = {level: [] for level in LEVELS}
    try:
        with process(["haproxy", "-db", "-f", str(tmp / "origin.cfg")], cpu=args.load_cpu,
                     port=("127.0.0.1", origin_port)):  # fmt: skip
            for round_ in range(max(args.repeat, 1)):
                for level in LEVELS:
                    run = one_round(level, tmp, origin_port=origin_port, args=args)
                    runs[level].append(run)
                    print(f"round {round_ + 1} {level:7s} {run['requests_per_second']:8.0f} req/s "
                          f"{run['cpu_us_per_request']} us CPU/req  {run['series']} series "
                          f"({run['request_series']} smi_requests_total)", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    levels: dict[str, Any] = {}
    for level, items in runs.items():
        levels[level] = {key: median([float(r[key]) for r in items if r[key] is not None])
                         for key in ("requests_per_second", "cpu_us_per_request", "series", "request_series",
                                     "exposition_bytes", "non_2xx")}  # fmt: skip
    base = levels["routes"]["cpu_us_per_request"]
    for figures in levels.values():
        figures["cpu_vs_routes"] = round(figures["cpu_us_per_request"] / base, 3) if base else None
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "note": "measured on a 2-core machine shared with four other engineers' "
            "work: noisy; compare the levels with each other (interleaved rounds), re-run on a quiet machine",
        },
        "workload": f"full mesh path (two sidecars), {ROUTES} routes per side, wrk -t1 -c32 cycling /r0../r7, "
        "both /metrics scraped every second",
        "duration_s": args.duration,
        "repeat": args.repeat,
        "levels": levels,
        "runs": runs,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nmedian per level (both sidecars; 1-min load average now {os.getloadavg()[0]:.2f}):")
    for level, f in levels.items():
        print(f"  {level:7s} {f['series']:5.0f} series ({f['request_series']:.0f} smi_requests_total, "
              f"{f['exposition_bytes']:.0f} bytes)  {f['cpu_us_per_request']:.1f} us CPU/req "
              f"(x{f['cpu_vs_routes']} of routes)  {f['requests_per_second']:.0f} req/s")  # fmt: skip
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
