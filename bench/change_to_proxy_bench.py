"""Benchmark: full compile of a synthetic mesh, and change-to-proxy latency at 100 streams.

Synthetic mesh: 1,000 services (5 pods each: 5,000 pods), 1,000 ServiceAccounts, and
2,000 SMI objects (1,000 TrafficTargets, 500 HTTPRouteGroups, 500 TrafficSplits).

1. Full compile: every one of the 5,000 proxies' configs from one fresh snapshot.
2. Change to proxy: 100 stream clients over real loopback sockets to a real config
   server; a TrafficSplit every client routes through is changed in the store; the time
   from the change to the new config arriving is recorded per client (p50/p99).
   The default coalescing window (50 ms) is part of what is measured; the figures also
   give it separately (change → refresh start, i.e. the debounce plus loop wake-up) and
   the refresh itself (compile + encode + queue for every connected proxy).  The clients
   read in the same process and event loop as the server (as before), so their parsing
   is inside the figures too.

Prints the figures and writes ``bench/results/change_to_proxy.json``.  Not a test.
Run: ``python bench/change_to_proxy_bench.py [--changes 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from smi.compile import Compiler, MeshSettings
from smi.distribution import ConfigService
from smi.groups import MESH_GROUPS
from smi.model import (
    HTTPMatch,
    HTTPRouteGroup,
    IdentityRef,
    ObjectMeta,
    Pod,
    PodSpec,
    RuleRef,
    Service,
    ServiceAccount,
    ServicePort,
    SplitBackend,
    TrafficSplit,
    TrafficTarget,
)
from smi.state import Store

NS = "bench"
SERVICES, PODS_PER_SERVICE, CLIENTS = 1000, 5, 100
RESULTS = Path(__file__).resolve().parent / "results" / "change_to_proxy.json"


def build_store() -> Store:
    store = Store()
    for i in range(SERVICES):
        sa = f"sa-{i}"
        store.apply(ServiceAccount(meta=ObjectMeta(name=sa, namespace=NS)))
        store.apply(
            Service(
                meta=ObjectMeta(name=f"svc-{i}", namespace=NS),
                ports=(ServicePort(port=80, name="http", target_port=8080),),
                selector={"app": f"app-{i}"},
                cluster_ip=f"10.96.{i // 250}.{i % 250 + 1}",
            )
        )
        for j in range(PODS_PER_SERVICE):
            n = i * PODS_PER_SERVICE + j
            store.apply(
                Pod(
                    meta=ObjectMeta(
                        name=f"pod-{i}-{j}",
                        namespace=NS,
                        labels={"app": f"app-{i}"},
                        annotations={"smi-mesh.io/inbound-port": "15001"},
                    ),
                    spec=PodSpec(service_account=sa),
                    pod_ip=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                    phase="Running",
                    ready=True,
                )
            )
    for i in range(500):
        store.apply(
            HTTPRouteGroup(
                meta=ObjectMeta(name=f"routes-{i}", namespace=NS),
                matches=(HTTPMatch(name="all", path_regex=".*", methods=("*",)),),
            )
        )
    for i in range(SERVICES):  # callers sa-(i+1..i+3) and every client may call sa-i
        sources = {f"sa-{(i + k) % SERVICES}" for k in (1, 2, 3)} | (
            {f"sa-{c}" for c in range(CLIENTS)} if i == 0 else set()
        )
        store.apply(
            TrafficTarget(
                meta=ObjectMeta(name=f"tt-{i}", namespace=NS),
                destination=IdentityRef(kind="ServiceAccount", name=f"sa-{i}", namespace=NS),
                sources=tuple(IdentityRef(kind="ServiceAccount", name=s, namespace=NS) for s in sorted(sources)),
                rules=(RuleRef(kind="HTTPRouteGroup", name=f"routes-{i % 500}"),),
            )
        )
    for i in range(500):
        store.apply(split(i, weight=1))
    return store


def split(i: int, *, weight: int) -> TrafficSplit:
    """Root svc-(2i), backends svc-(2i) and svc-(2i+1)."""
    return TrafficSplit(
        meta=ObjectMeta(name=f"split-{i}", namespace=NS),
        service=f"svc-{2 * i}",
        backends=(SplitBackend(f"svc-{2 * i}", Decimal(1)), SplitBackend(f"svc-{2 * i + 1}", Decimal(weight))),
    )


def full_compile(store: Store) -> dict[str, float]:
    settings = MeshSettings()
    snapshot = store.snapshot()
    started = time.perf_counter()
    compiler = Compiler(settings, MESH_GROUPS)
    for i in range(SERVICES):
        for j in range(PODS_PER_SERVICE):
            compiler.compile_proxy(snapshot, namespace=NS, pod=f"pod-{i}-{j}")
    total = time.perf_counter() - started
    started = time.perf_counter()
    Compiler(settings, MESH_GROUPS).compile_proxy(snapshot, namespace=NS, pod="pod-0-0")
    one_cold = time.perf_counter() - started
    return {"full_compile_5000_proxies_s": total, "one_proxy_cold_index_s": one_cold}


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str, pod: str) -> None:
        self.session, self.url, self.pod = session, url, pod
        self.arrivals: dict[int, float] = {}
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        params = {"namespace": NS, "pod": self.pod}
        async with self.session.get(f"{self.url}/v1/config/stream", params=params) as resp:
            async for line in resp.content:
                message = json.loads(line)
                if message["type"] == "config":
                    self.arrivals[message["version"]] = time.perf_counter()


async def wait_all(clients: list[Client], version: int, *, within: float = 30.0) -> None:
    deadline = time.perf_counter() + within
    while not all(version in c.arrivals for c in clients):
        if time.perf_counter() > deadline:
            raise SystemExit(f"not every client got version {version} within {within}s")
        await asyncio.sleep(0.001)


async def change_to_proxy(store: Store, *, changes: int) -> dict[str, Any]:
    compiler = Compiler(MeshSettings(), MESH_GROUPS)
    service = ConfigService(store=store, compiler=compiler.compile_proxy, synced=True, queue_size=64)
    latencies: list[float] = []
    refreshes: list[tuple[float, float]] = []  # (start, end) of every refresh
    publisher = service.publisher
    plain_refresh = publisher.refresh

    def timed_refresh() -> int:
        started = time.perf_counter()
        queued = plain_refresh()
        refreshes.append((started, time.perf_counter()))
        return queued

    publisher.refresh = timed_refresh  # type: ignore[method-assign]
    debounce: list[float] = []
    refresh: list[float] = []
    async with service, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        clients = [Client(session, service.url, f"pod-{c}-0") for c in range(CLIENTS)]
        await wait_all(clients, 1)
        for n in range(changes):
            changed_at = time.perf_counter()
            store.apply(split(0, weight=n + 2))  # every client calls svc-0, the root of split-0
            await wait_all(clients, n + 2)
            latencies.extend(c.arrivals[n + 2] - changed_at for c in clients)
            start, end = next((s, e) for s, e in refreshes if s >= changed_at)
            debounce.append(start - changed_at)
            refresh.append(end - start)
        for c in clients:
            c.task.cancel()
        await asyncio.gather(*(c.task for c in clients), return_exceptions=True)
    latencies.sort()
    return {
        "clients": CLIENTS,
        "changes": changes,
        "coalescing_window_s": service.coalescer.settings.window,
        "change_to_proxy_p50_ms": 1000 * statistics.median(latencies),
        "change_to_proxy_p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "change_to_proxy_max_ms": 1000 * latencies[-1],
        "change_to_refresh_start_p50_ms": 1000 * statistics.median(debounce),
        "refresh_p50_ms": 1000 * statistics.median(refresh),
        "refresh_max_ms": 1000 * max(refresh),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    store = build_store()
    figures: dict[str, Any] = {
        "services": SERVICES,
        "pods": SERVICES * PODS_PER_SERVICE,
        "smi_objects": 2000,
        "build_store_s": time.perf_counter() - started,
    }
    figures.update(full_compile(store))
    figures.update(asyncio.run(change_to_proxy(store, changes=args.changes)))
    for key, value in figures.items():
        print(f"{key:32} {value:.3f}" if isinstance(value, float) else f"{key:32} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
