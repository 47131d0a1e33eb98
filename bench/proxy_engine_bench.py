"""In-process A/B of the sidecar's HTTP engine: CPU per request without sockets (a benchmark, not a test).

The outbound listener's protocol (routing through a TrafficSplit with a match, metrics)
gets a small keep-alive GET and a pooled upstream connection answers it, with fake
transports: no system calls, one event-loop iteration per request.  What is left is the
engine's own Python work per request, far less noisy than ``proxy_bench.py`` on a shared
machine.  ``--code DIR`` measures another checkout (e.g. ``git worktree add /tmp/before
main``), so before and after run interleaved in one session; the engine before issue 9
(``proxy.http1``) and after (``proxy.http``) are both driven.  Prints the CPU per request
of each run and writes ``bench/results/proxy_engine.json``.
Run: ``python bench/proxy_engine_bench.py --code /tmp/before --code . [--requests 30000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "proxy_engine.json"

CHILD = r'''
import asyncio, os, sys, time
code, n = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, code)
import uvloop
from proxy.holder import ConfigHolder
from proxy.metrics import Metrics
from proxy.outbound import outbound_factory
from proxy.upstream import UpstreamPool
from smi.proxyconfig import (Cluster, Endpoint, HttpMatch, OutboundConfig, OutboundPort, OutboundService,
                             ProxyConfig, ProxyNode, SplitRoute, WeightedCluster)


class Transport:
    def __init__(self): self.written = 0
    def write(self, data): self.written += len(data)
    def is_closing(self): return False
    def pause_reading(self): pass
    def resume_reading(self): pass
    def get_extra_info(self, key, default=None):
        return ("127.0.0.1", 5555) if key in ("peername", "sockname") else default
    def close(self): pass
    def abort(self): pass


node = ProxyNode("default", "client", "client", "spiffe://cluster.local/ns/default/sa/client", address="127.0.0.11",
                 workload="client")
endpoint = Endpoint("127.0.0.1", 9999, workload="web")
v1 = Cluster("default/web-v1:80", "default", "web-v1", 80, "http", (endpoint,), "round_robin")
root = Cluster("default/web:80", "default", "web", 80, "http", (endpoint,), "round_robin")
split = SplitRoute("default/web-split", (WeightedCluster("default/web-v1:80", 100, "web-v1"),),
                   (HttpMatch("all", "/", ("GET",)),))
port = OutboundPort(80, "http", "default/web:80", (split,))
service = OutboundService("default", "web", ("web", "web.default"), (port,))
config = ProxyConfig(node, outbound=OutboundConfig((service,), (root, v1)))
REQUEST = b"GET / HTTP/1.1\r\nHost: web\r\nUser-Agent: wrk\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\ncontent-type: text/plain\r\n\r\nhello from origin"


async def main():
    metrics = Metrics()
    holder = ConfigHolder(metrics)
    holder.swap(config, version=1)
    pool = UpstreamPool()
    client = outbound_factory(holder=holder, metrics=metrics, pool=pool)()
    client_transport = Transport()
    client.connection_made(client_transport)
    key = ("127.0.0.1", 9999, 0, "127.0.0.11")
    if os.path.exists(os.path.join(code, "proxy", "http")):
        from proxy.http.shell import UpstreamProtocol
        from proxy.http.upstreams import Upstream
        upstream = UpstreamProtocol(pool, Upstream(key))
        upstream.connection_made(Transport())
        upstream.upstream.keep_alive = True
        pool.release(upstream.upstream)
    else:
        from proxy.upstream import UpstreamConnection
        upstream = UpstreamConnection(pool, key)
        upstream.connection_made(Transport())
        upstream.keep_alive = True
        pool.release(upstream)
    for count in (2000, n):  # a warm-up, then the measured run
        started = time.process_time()
        for _ in range(count):
            client.data_received(REQUEST)
            upstream.data_received(RESPONSE)
            await asyncio.sleep(0)  # one loop iteration per request, as with real sockets
        used = time.process_time() - started
    assert client_transport.written >= (n + 2000) * len(RESPONSE)
    print(used / n * 1e6)


uvloop.run(main())
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", action="append", type=Path, default=[], help="a checkout to measure; repeatable")
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; each round runs every checkout once")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    codes = [c.resolve() for c in (args.code or [REPO])]
    runs: dict[str, list[float]] = {str(c): [] for c in codes}
    for _ in range(args.repeat):
        for code in codes:
            out = subprocess.run([sys.executable, "-c", CHILD, str(code), str(args.requests)],
                                 capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
            runs[str(code)].append(round(float(out.stdout.strip().splitlines()[-1]), 2))
            print(f"{code}: {runs[str(code)][-1]:.2f} us CPU per request", flush=True)
    summary = {code: {"min": min(v), "median": sorted(v)[len(v) // 2]} for code, v in runs.items()}
    for code, s in summary.items():
        print(f"{code}: min {s['min']:.2f}  median {s['median']:.2f} us CPU per request")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"requests": args.requests, "runs": runs, "summary": summary}, indent=2) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
