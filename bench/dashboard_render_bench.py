"""How long the traffic map takes to redraw at 100 workloads and 300 edges (synthetic data).

A small aiohttp server answers the metrics API's list and edges paths with synthetic
TrafficMetrics (seeded, different numbers on every call, as live traffic gives) and serves the
real dashboard page; headless Chromium (the system binary, driven by Playwright) loads the page
with a fast refresh and the script reads the page's own timings: the first render (which runs
the layout), every later redraw (in-place updates), and each round's API reading.

    python bench/dashboard_render_bench.py [--workloads 100] [--edges 300] [--redraws 30]

Needs the Debian package ``chromium``, the ``playwright`` Python package and the dashboard
library built (``./scripts/build-dashboard``).  Writes ``bench/results/dashboard_render.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from traffic_metrics.dashboard import add_dashboard_routes, library_path

GV = "/apis/metrics.smi-spec.io/v1alpha1"


def _item(resource: dict[str, str], edge: dict[str, Any] | None, rng: random.Random, rps: float) -> dict[str, Any]:
    total = rps * 30 * rng.uniform(0.9, 1.1)
    failures = total * rng.choice([0.0, 0.0, 0.01, 0.2])
    item: dict[str, Any] = {
        "kind": "TrafficMetrics",
        "apiVersion": "metrics.smi-spec.io/v1alpha1",
        "metadata": {"name": resource["name"], "namespace": resource["namespace"]},
        "timestamp": "2026-12-06T00:00:00Z",
        "window": "30s",
        "resource": resource,
        "edge": edge,
        "metrics": [
            {"name": "p99_response_latency", "unit": "ms", "value": f"{int(rng.uniform(5, 80) * 1000)}m"},
            {"name": "p90_response_latency", "unit": "ms", "value": f"{int(rng.uniform(2, 5) * 1000)}m"},
            {"name": "p50_response_latency", "unit": "ms", "value": f"{int(rng.uniform(0.5, 2) * 1000)}m"},
            {"name": "success_count", "value": f"{int((total - failures) * 1000)}m"},
            {"name": "failure_count", "value": f"{int(failures * 1000)}m"},
        ],
    }
    return item


class Synthetic:
    def __init__(self, workloads: int, edges: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.namespaces = [f"team-{i}" for i in range(max(1, workloads // 20))]
        self.workloads = [
            {"kind": "Deployment", "namespace": self.namespaces[i % len(self.namespaces)], "name": f"svc-{i:03d}"}
            for i in range(workloads)
        ]
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < edges:
            a, b = rng.randrange(workloads), rng.randrange(workloads)
            if a != b:
                pairs.add((a, b))
        self.edges = sorted(pairs)
        self.rates = {pair: rng.uniform(0.1, 200) for pair in self.edges}
        self.calls = 0

    def list_items(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        rng = random.Random(self.calls)
        self.calls += 1
        if plural == "deployments":
            return [
                _item(w, None, rng, rng.uniform(1, 300))
                for w in self.workloads
                if namespace is None or w["namespace"] == namespace
            ]
        if plural == "trafficsplits":
            out = []
            for ns in self.namespaces if namespace is None else [namespace]:
                for weight, backend in ((90, "svc-v1"), (10, "svc-v2")):
                    item = _item({"kind": "TrafficSplit", "namespace": ns, "name": "canary"}, None, rng, weight)
                    item["backend"] = {"apex": "svc", "name": backend, "weight": weight}
                    out.append(item)
            return out
        return []

    def edge_items(self, namespace: str, name: str) -> list[dict[str, Any]]:
        rng = random.Random(self.calls)
        self.calls += 1
        index = next(i for i, w in enumerate(self.workloads) if w["namespace"] == namespace and w["name"] == name)
        me = self.workloads[index]
        out = []
        for a, b in self.edges:
            if a == index:
                out.append(
                    _item(
                        me,
                        {"direction": "to", "side": "client", "resource": self.workloads[b]},
                        rng,
                        self.rates[(a, b)],
                    )
                )
            elif b == index:
                out.append(
                    _item(
                        me,
                        {"direction": "from", "side": "server", "resource": self.workloads[a]},
                        rng,
                        self.rates[(a, b)],
                    )
                )
        return out


def synthetic_app(data: Synthetic) -> web.Application:
    app = web.Application()
    add_dashboard_routes(app)

    def listing(items: list[dict[str, Any]]) -> web.Response:
        return web.json_response(
            {"kind": "TrafficMetricsList", "apiVersion": "metrics.smi-spec.io/v1alpha1", "items": items}
        )

    async def all_ns(request: web.Request) -> web.Response:
        return listing(data.list_items(request.match_info["plural"], None))

    async def in_ns(request: web.Request) -> web.Response:
        return listing(data.list_items(request.match_info["plural"], request.match_info["ns"]))

    async def edges(request: web.Request) -> web.Response:
        return listing(data.edge_items(request.match_info["ns"], request.match_info["name"]))

    app.router.add_get(GV + "/{plural}", all_ns)
    app.router.add_get(GV + "/namespaces/{ns}/{plural}", in_ns)
    app.router.add_get(GV + "/namespaces/{ns}/{plural}/{name}/edges", edges)
    return app


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    data = Synthetic(args.workloads, args.edges)
    runner = web.AppRunner(synthetic_app(data), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"], headless=True)
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            started = time.perf_counter()
            await page.goto(f"http://127.0.0.1:{port}/dashboard/?refresh={args.refresh_ms}")
            await page.wait_for_function(
                f"Number(document.body.dataset.updates || 0) >= {args.redraws + 1}", timeout=args.timeout * 1000
            )
            wall = time.perf_counter() - started
            renders = await page.evaluate("window.smiDashboard.renders")
            errors = await page.evaluate("window.smiDashboard.errors")
            await page.screenshot(path=str(Path(args.out).with_suffix(".png")))
            await browser.close()
    finally:
        await runner.cleanup()
    first, later = renders[0], renders[1:]
    redraw = [r["ms"] for r in later]
    loads = [r["loadMs"] for r in renders]
    return {
        "workloads": args.workloads,
        "edges": args.edges,
        "elements_drawn": first["elements"],
        "first_render_ms": round(first["ms"], 1),
        "redraw_ms": {
            "p50": round(statistics.median(redraw), 2),
            "p95": round(_percentile(redraw, 0.95), 2),
            "max": round(max(redraw), 2),
            "n": len(redraw),
        },
        "api_read_ms": {"p50": round(statistics.median(loads), 1), "p95": round(_percentile(loads, 0.95), 1)},
        "page_errors": errors,
        "wall_seconds": round(wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=100)
    parser.add_argument("--edges", type=int, default=300)
    parser.add_argument("--redraws", type=int, default=30)
    parser.add_argument("--refresh-ms", type=int, default=250)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "dashboard_render.json"))
    args = parser.parse_args()
    if not library_path().is_file():
        print("dashboard library not built: run ./scripts/build-dashboard", file=sys.stderr)
        return 2
    result = asyncio.run(measure(args))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
