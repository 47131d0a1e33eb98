"""mTLS cost on the sidecar-to-sidecar hop, measured with the identity building blocks.

An inbound listener (``proxy.identity.InboundListener``) answers one line per request;
a client sends requests at a fixed open-loop rate (default 1,000 rps; 100 rps for the
new-connection scenarios, where one process does both sides' handshakes) for a bounded time
and records each request's latency.  Scenarios:

* ``plain_pooled``:      plain TCP, one pooled connection (the baseline)
* ``mtls_pooled``:       mTLS (TLS 1.3), one pooled connection (the mesh's normal case)
* ``mtls_new_resumed``:  a new mTLS connection per request, resuming the TLS session
* ``mtls_new_full``:     a new mTLS connection per request, full handshake each time

Prints p50/p99 (ms) and the ratio to plain text, writes ``bench/results/identity_tls.json``.
The full proxy benchmark (HTTP through both sidecars) belongs to the proxy's bench.

    python bench/identity_tls_bench.py [--rps 1000] [--new-rps 100] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from proxy.identity import InboundConnection, InboundListener, Mode, TlsContexts, connect_mesh, keys
from proxy.identity.material import WorkloadMaterial, from_response
from smi.identity import CertificateAuthority, WorkloadIdentity, spiffe_id

RESULTS = Path(__file__).parent / "results" / "identity_tls.json"


def _issue(ca: CertificateAuthority, sa: str) -> WorkloadMaterial:
    key = keys.generate_key()
    issued = ca.issue(keys.build_csr(key, spiffe_id(ca.trust_domain, "default", sa)),
                      identity=WorkloadIdentity("default", sa))
    return from_response(key, issued.identity, issued.as_json())


async def _echo(conn: InboundConnection) -> None:
    while line := await conn.reader.readline():
        conn.writer.write(line)
        await conn.writer.drain()


async def _run(rps: int, seconds: float, request: Callable[[], Awaitable[None]]) -> list[float]:
    latencies: list[float] = []
    interval = 1.0 / rps
    total = int(rps * seconds)
    start = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        t0 = time.perf_counter()
        await request()
        latencies.append(time.perf_counter() - t0)

    for i in range(total):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.wait_for(asyncio.gather(*pending), 30)
    return latencies


async def main(rps: int, new_rps: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        ca = CertificateAuthority.open(Path(tmp) / "ca", trust_domain="cluster.local",
                                       leaf_lifetime=datetime.timedelta(hours=1))
        server_ctx, client_ctx = TlsContexts(_issue(ca, "server")), TlsContexts(_issue(ca, "client"))
    listener = InboundListener(_echo, contexts=server_ctx, mode=Mode.PERMISSIVE)
    await listener.start("127.0.0.1")
    port, expected = listener.port, {spiffe_id("cluster.local", "default", "server")}
    results: dict[str, dict[str, float]] = {}
    lock = asyncio.Lock()  # one pooled connection carries one request at a time

    async def pooled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Callable[[], Awaitable[None]]:
        async def request() -> None:
            async with lock:
                writer.write(b"ping\n")
                await reader.readline()
        return request

    plain_r, plain_w = await asyncio.open_connection("127.0.0.1", port)
    tls = await connect_mesh("127.0.0.1", port, contexts=client_ctx, expected=expected)

    resumed = [0, 0]

    async def new_connection(resume: bool) -> None:
        if not resume:
            client_ctx.client.sessions.clear()
        stream = await connect_mesh("127.0.0.1", port, contexts=client_ctx, expected=expected)
        if resume:
            resumed[0] += stream.resumed
            resumed[1] += 1
        stream.writer.write(b"ping\n")
        await stream.reader.readline()
        stream.release()

    scenarios: dict[str, Callable[[], Awaitable[None]]] = {
        "plain_pooled": await pooled(plain_r, plain_w),
        "mtls_pooled": await pooled(tls.reader, tls.writer),
        "mtls_new_resumed": lambda: new_connection(True),
        "mtls_new_full": lambda: new_connection(False),
    }
    for name, request in scenarios.items():
        rate = new_rps if name.startswith("mtls_new") else rps
        await _run(rate, 0.3, request)  # warm-up
        latencies = sorted(await _run(rate, seconds, request))
        q = statistics.quantiles(latencies, n=100)
        results[name] = {"rps": rate, "requests": len(latencies), "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}
        if name == "mtls_new_resumed":
            results[name]["resumed_share"] = resumed[0] / max(1, resumed[1])
    plain_w.close()
    tls.release()
    await listener.close()
    base = results["plain_pooled"]
    for figures in results.values():
        figures["p50_ratio_to_plain"] = figures["p50_ms"] / base["p50_ms"]
        figures["p99_ratio_to_plain"] = figures["p99_ms"] / base["p99_ms"]
    return {
        "rps": rps,
        "new_connection_rps": new_rps,
        "seconds": seconds,
        "python": platform.python_version(),
        "scenarios": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rps", type=int, default=1000)
    parser.add_argument("--new-rps", type=int, default=100, help="rate for the new-connection scenarios")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    report = asyncio.run(main(args.rps, args.new_rps, args.seconds))
    for name, f in report["scenarios"].items():  # type: ignore[attr-defined]
        print(f"{name:18} p50 {f['p50_ms']:6.3f} ms  p99 {f['p99_ms']:6.3f} ms  "
              f"(x{f['p50_ratio_to_plain']:.2f} / x{f['p99_ratio_to_plain']:.2f} of plain)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
