"""TrafficMetrics API benchmark: 1,000 pods and 200 Deployments of synthetic sidecar metrics.

Measures (figures, not a test):

* **scrape cost per sidecar**: parsing one sidecar's ``/metrics`` text (the real
  exposition of ``proxy.metrics``, 4 edges), CPU µs, the first time and in steady state
  (series seen before); and a full scrape round of all 1,000 sidecars over real HTTP on
  loopback (another process stands in for the sidecars), wall ms and the scraper's CPU ms;
* **the direct source's memory** after an hour of scrapes every 10 s (the longest window's
  history, thinned), by ``tracemalloc`` (Python allocations of the histories) and
  ``history.memory()`` (the numbers alone);
* **query latency** through the HTTP API (aiohttp client → server → query): a namespace
  list of Deployments and one Deployment's edges, p50/p99 over ``--queries`` requests.

Targets (issue 10): p99 under 100 ms per query, under 100 MB at 1,000 pods.  Prints the
figures and writes ``bench/results/metrics.json``.

    python bench/metrics_bench.py [--pods 1000] [--deployments 200] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from proxy.exposition import render
from proxy.metrics import Metrics, MetricsCollector
from traffic_metrics.direct import DirectSource
from traffic_metrics.samples import parse
from traffic_metrics.server import MetricsApi, make_app
from traffic_metrics.topology import PodInfo, Topology

TD = "spiffe://cluster.local"
NAMESPACES = 10
OUT = Path(__file__).resolve().parent / "results" / "metrics.json"


# The stand-in sidecars: one asyncio server answering each pod's path with its text.
SIDECARS = """
import asyncio, json, sys
texts = {k: v.encode() for k, v in json.load(open(sys.argv[1] + '/texts.json')).items()}
async def handle(reader, writer):
    head = await reader.readuntil(b'\\r\\n\\r\\n')
    body = texts.get(head.split(b' ')[1].decode(), b'')
    writer.write(b'HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % len(body) + body)
    await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def mesh(pods: int, deployments: int) -> tuple[list[PodInfo], dict[tuple[str, str], str]]:
    """Pods of ``deployments`` Deployments spread over 10 namespaces; each calls the next two Deployments."""
    infos: list[PodInfo] = []
    texts: dict[tuple[str, str], str] = {}
    per = pods // deployments
    names = [(f"ns-{d % NAMESPACES}", f"dep-{d}") for d in range(deployments)]
    for d, (ns, dep) in enumerate(names):
        callees = [names[(d + 1) % deployments], names[(d + 2) % deployments]]
        callers = [names[(d - 1) % deployments], names[(d - 2) % deployments]]
        for p in range(per):
            pod = f"{dep}-{p}"
            metrics = Metrics()
            for cns, cdep in callees:
                stats = metrics.edge(("outbound", ns, dep, f"{TD}/ns/{ns}/sa/{dep}", cns, cdep, cdep,
                                      f"{TD}/ns/{cns}/sa/{cdep}", "", "", "true"))  # fmt: skip
                for i in range(50):
                    stats.requests += 1
                    stats.response(500 if i % 25 == 0 else 200, 0.002 + 0.001 * (i % 7))
            for cns, cdep in callers:
                stats = metrics.edge(("inbound", cns, "", f"{TD}/ns/{cns}/sa/{cdep}", ns, "", dep,
                                      f"{TD}/ns/{ns}/sa/{dep}", "r", "", "true"))  # fmt: skip
                for i in range(50):
                    stats.requests += 1
                    stats.response(200, 0.001 + 0.0005 * (i % 5))
            texts[(ns, pod)] = render(MetricsCollector(metrics).families()).decode()
            infos.append(PodInfo(ns, pod, {"app": dep}, "Deployment", dep, dep, "127.0.0.1", f"/{ns}/{pod}"))
    return infos, texts


def start_sidecars(folder: str) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen([sys.executable, "-c", SIDECARS, folder], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pods, texts = mesh(args.pods, args.deployments)
    topology = Topology(pods=pods)

    # 1. parse cost per sidecar
    started = time.process_time()
    parsed = {key: parse(text) for key, text in texts.items()}
    parse_us = (time.process_time() - started) / len(texts) * 1e6

    # steady state: the same series again (label strings memoised, as on every later scrape)
    started = time.process_time()
    for text in texts.values():
        parse(text)
    steady_us = (time.process_time() - started) / len(texts) * 1e6

    # 2. a full scrape round over real HTTP; the stand-in sidecars are another process
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "texts.json").write_text(json.dumps({f"/{ns}/{pod}": t for (ns, pod), t in texts.items()}))
        server, port = start_sidecars(folder)
        try:
            url = f"http://127.0.0.1:{port}"
            targets = [PodInfo(p.namespace, p.name, metrics_url=url + p.metrics_url) for p in pods]
            probe = DirectSource(targets=lambda: targets, timeout=10)
            rounds = []
            cpu = []
            for _ in range(3):
                t0, c0 = time.perf_counter(), time.process_time()
                await probe.scrape_once()
                rounds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            assert not probe.failures, probe.failures
        finally:
            server.terminate()
            server.wait(timeout=10)
    round_ms = statistics.median(rounds) * 1000
    round_cpu_ms = statistics.median(cpu) * 1000

    # 3. an hour of history at 10 s, counters growing each round (rows reused: no parsing)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    clock = [0.0]
    source = DirectSource(targets=lambda: [], clock=lambda: clock[0])
    from traffic_metrics.history import TargetHistory

    for step in range(361):
        clock[0] = step * 10.0
        for key, rows in parsed.items():
            history = source.histories.get(key)
            if history is None:
                history = source.histories[key] = TargetHistory()
            history.add(clock[0], {edge: [v * (step + 1) for v in row] for edge, row in rows.items()})
    source.rounds = 361
    source.last_round = clock[0]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    traced = sum(s.size_diff for s in after.compare_to(before, "filename"))
    snapshots = statistics.median(len(h.snapshots) for h in source.histories.values())

    # the window itself is computed once per scrape round (then cached until the next round)
    window_ms = []
    for seconds in (60.0, 300.0):
        t0 = time.perf_counter()
        await source.window(seconds)
        window_ms.append((time.perf_counter() - t0) * 1000)

    # 4. query latency through the API (windows already computed, as between two rounds)
    api = web.AppRunner(make_app(MetricsApi(topology=lambda: topology, source=source)), access_log=None)
    await api.setup()
    site = web.TCPSite(api, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/apis/metrics.smi-spec.io/v1alpha1"  # type: ignore[union-attr]
    queries = {
        "namespace_list": f"{base}/namespaces/ns-0/deployments?window=1m",
        "edges": f"{base}/namespaces/ns-0/deployments/dep-0/edges?window=1m",
        "all_namespaces_list": f"{base}/deployments?window=5m",
    }
    latency: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession() as session:
        for name, url in queries.items():
            times = []
            for _ in range(args.queries):
                t0 = time.perf_counter()
                async with session.get(url) as response:
                    body = await response.read()
                    assert response.status == 200, body[:200]
                times.append((time.perf_counter() - t0) * 1000)
            latency[name] = {"p50_ms": round(percentile(times, 0.5), 2), "p99_ms": round(percentile(times, 0.99), 2),
                             "items": len(json.loads(body).get("items") or [])}  # fmt: skip
    await api.cleanup()
    return {
        "pods": args.pods,
        "deployments": args.deployments,
        "edges_per_pod": 4,
        "parse_cpu_us_per_sidecar_first": round(parse_us, 1),
        "parse_cpu_us_per_sidecar_steady": round(steady_us, 1),
        "scrape_round_ms": round(round_ms, 1),
        "scrape_round_cpu_ms": round(round_cpu_ms, 1),
        "scrape_cpu_ms_per_sidecar": round(round_cpu_ms / len(pods), 3),
        "history_snapshots_per_sidecar": snapshots,
        "direct_source_memory_mb_traced": round(traced / 1e6, 1),
        "direct_source_numbers_mb": round(source.memory() / 1e6, 1),
        "window_compute_ms_per_round": round(max(window_ms), 1),
        "query_latency": latency,
        "targets": {"query_p99_ms": 100, "memory_mb": 100},
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),  # a busy machine shows here
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
