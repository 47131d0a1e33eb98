"""HTTP/2 and gRPC through the mesh (a benchmark, not a test).  Figures on a shared 2-core machine are noisy.

Two sidecars run as real processes (``python -m smi.cli.proxy --config-file ... --mtls off``:
plain text between them, so the figures compare the protocols, not TLS) next to origins
on loopback:

1. **gRPC unary** (the ``test.Echo/Unary`` service of ``tests/http2/grpc_app.py``, grpcio,
   in its own process): ``direct`` (client -> app) vs ``mesh`` (client -> client sidecar
   -> HTTP/2 -> server sidecar -> app).  Throughput with ``h2load`` (one connection, 32
   streams in flight, a fixed count of requests), and the latency of sequential calls
   from a grpcio client (p50/p90/p99, a fixed count).  The added latency is mesh - direct.
2. **HTTP/1.1 between sidecars**: ``http1`` (today: HTTP/1.1 from the client sidecar to
   the server sidecar, pooled keep-alive connections) vs ``h1_over_h2`` (the same requests
   as streams of one multiplexed HTTP/2 connection, ``--h1-over-h2``).  The app makes many
   short HTTP/1.1 connections (one request each, 16 at a time, a fixed count): the CPU
   time both sidecars spent per request (``/proc/<pid>/stat``) and the connections held
   between the sidecars at the end (``/proc/net/tcp``).

Needs ``h2load`` (Debian ``nghttp2-client``) and grpcio.  Writes ``bench/results/http2.json``.
Run: ``python bench/http2_bench.py [--requests 20000] [--calls 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smi.proxyconfig import (  # noqa: E402
    AllowRule,
    Cluster,
    Endpoint,
    InboundConfig,
    InboundPort,
    OutboundConfig,
    OutboundPort,
    OutboundService,
    ProxyConfig,
    ProxyNode,
    encode,
)

CLIENT_IP, SERVER_IP, APP_IP = "127.0.0.61", "127.0.0.62", "127.0.0.62"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/server"
TICK = os.sysconf("SC_CLK_TCK")

ORIGIN = r"""
import asyncio, sys
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            self.t.write(RESPONSE)
            if b"connection: close" in head.lower(): self.t.close()
async def main():
    s = await asyncio.get_running_loop().create_server(P, sys.argv[1], int(sys.argv[2]))
    print("ready", flush=True)
    await s.serve_forever()
asyncio.run(main())
"""


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def established_to(port: int) -> int:
    """Established TCP connections whose local or remote port is ``port`` (counted once per socket pair)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, state = parts[1], parts[3]
        if state == "01" and int(local.split(":")[1], 16) == port:
            count += 1
    return count


def wait_port(host: str, port: int, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {host}:{port} after {limit:g} s")


@contextlib.contextmanager
def process(argv: list[str], *, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def configs(app_port: int, inbound_port: int, *, protocol: str) -> tuple[ProxyConfig, ProxyConfig]:
    allow = AllowRule("default/all/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)
    server = ProxyConfig(
        node=ProxyNode("default", "server-pod", "server", SERVER_ID, address=SERVER_IP, workload="server"),
        inbound=InboundConfig(
            ports=(InboundPort(app_port, protocol, "app"),), app_address=APP_IP, rules=(allow,),
            peers=((CLIENT_IP, CLIENT_ID),),
        ),
    )  # fmt: skip
    endpoint = Endpoint(APP_IP, app_port, pod="server-pod", namespace="default", proxy_port=inbound_port,
                        workload="server")  # fmt: skip
    cluster = Cluster("default/app:80", "default", "app", 80, protocol, (endpoint,))
    svc = OutboundService("default", "app", ("app", "app.default"), (OutboundPort(80, protocol, "default/app:80"),))
    client = ProxyConfig(
        node=ProxyNode("default", "client-pod", "client", CLIENT_ID, address=CLIENT_IP, workload="client"),
        outbound=OutboundConfig((svc,), (cluster,)),
    )
    return client, server


@contextlib.contextmanager
def sidecars(work: Path, app_port: int, *, protocol: str, h1_over_h2: bool = False) -> Iterator[dict[str, Any]]:
    inbound, outbound = free_port(SERVER_IP), free_port(CLIENT_IP)
    client_cfg, server_cfg = configs(app_port, inbound, protocol=protocol)
    (work / "client.json").write_text(json.dumps(encode(client_cfg)))
    (work / "server.json").write_text(json.dumps(encode(server_cfg)))
    base = [sys.executable, "-m", "smi.cli.proxy", "--mtls", "off", "--log-level", "warning"]
    spare = f"{SERVER_IP}:{free_port(SERVER_IP)}"
    server_argv = [*base, "--config-file", str(work / "server.json"), "--inbound", f"{SERVER_IP}:{inbound}",
                   "--outbound", spare, "--admin", f"{SERVER_IP}:{free_port(SERVER_IP)}"]  # fmt: skip
    client_argv = [*base, "--config-file", str(work / "client.json"), "--outbound", f"{CLIENT_IP}:{outbound}",
                   "--inbound", f"{CLIENT_IP}:{free_port(CLIENT_IP)}", "--admin", f"{CLIENT_IP}:{free_port(CLIENT_IP)}",
                   "--bind-address", CLIENT_IP, *(["--h1-over-h2"] if h1_over_h2 else [])]  # fmt: skip
    with process(server_argv) as server, process(client_argv) as client:
        wait_port(SERVER_IP, inbound)
        wait_port(CLIENT_IP, outbound)
        yield {"outbound": (CLIENT_IP, outbound), "inbound": inbound, "pids": (client.pid, server.pid)}


def grpc_body() -> bytes:
    message = b"hello"
    return b"\x00" + len(message).to_bytes(4, "big") + message


def h2load(host: str, port: int, *, requests: int, work: Path) -> dict[str, float]:
    body = work / "body.bin"
    body.write_bytes(grpc_body())
    argv = ["h2load", "-n", str(requests), "-c", "1", "-m", "32", "-d", str(body),
            "-H", ":authority: app.default:80", "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://{host}:{port}/test.Echo/Unary"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    ok = int(re.search(r"status codes: (\d+) 2xx", out).group(1))  # type: ignore[union-attr]
    return {"requests_per_second": rps, "ok": ok, "requested": requests}


def grpc_latency(host: str, port: int, calls: int) -> dict[str, float]:
    from tests.http2 import grpc_app

    echo = grpc_app.Echo(grpc_app.channel(f"{host}:{port}", "app.default:80"))
    for _ in range(50):
        echo.unary(b"warm", timeout=10)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        echo.unary(b"hello", timeout=10)
        times.append(time.perf_counter() - start)
    times.sort()
    return {f"p{q}_ms": round(times[min(len(times) - 1, int(len(times) * q / 100))] * 1000, 3) for q in (50, 90, 99)}


def grpc_case(work: Path, requests: int, calls: int) -> dict[str, Any]:
    app_port = free_port(APP_IP)
    with process([sys.executable, "-m", "tests.http2.grpc_app"], env={"HOST": APP_IP, "PORT": str(app_port)}):
        wait_port(APP_IP, app_port)
        direct = {**h2load(APP_IP, app_port, requests=requests, work=work), **grpc_latency(APP_IP, app_port, calls)}
        with sidecars(work, app_port, protocol="http2") as s:
            host, port = s["outbound"]
            before = sum(cpu_seconds(p) for p in s["pids"])
            mesh = h2load(host, port, requests=requests, work=work)
            mesh["sidecar_cpu_us_per_request"] = round(
                (sum(cpu_seconds(p) for p in s["pids"]) - before) / requests * 1e6, 1
            )
            mesh.update(grpc_latency(host, port, calls))
    added = {k: round(mesh[k] - direct[k], 3) for k in ("p50_ms", "p90_ms", "p99_ms")}
    return {"direct": direct, "mesh": mesh, "added_latency_ms": added}


async def short_connections(host: str, port: int, requests: int, concurrency: int = 16) -> int:
    done = 0
    request = b"GET /x HTTP/1.1\r\nhost: app.default\r\nconnection: close\r\n\r\n"

    async def worker(n: int) -> None:
        nonlocal done
        for _ in range(n):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            answer = await reader.read(-1)
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                done += 1

    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    return done


def http1_case(work: Path, requests: int, *, h1_over_h2: bool) -> dict[str, Any]:
    app_port = free_port(APP_IP)
    with process([sys.executable, "-c", ORIGIN, APP_IP, str(app_port)]):
        wait_port(APP_IP, app_port)
        with sidecars(work, app_port, protocol="http", h1_over_h2=h1_over_h2) as s:
            host, port = s["outbound"]
            asyncio.run(short_connections(host, port, 200))  # warm up
            before = sum(cpu_seconds(p) for p in s["pids"])
            start = time.perf_counter()
            ok = asyncio.run(short_connections(host, port, requests))
            elapsed = time.perf_counter() - start
            cpu = sum(cpu_seconds(p) for p in s["pids"]) - before
            held = established_to(s["inbound"])
    return {
        "ok": ok,
        "requested": requests // 16 * 16,
        "requests_per_second": round(ok / elapsed, 1),
        "sidecar_cpu_us_per_request": round(cpu / max(ok, 1) * 1e6, 1),
        "connections_between_sidecars": held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=20000, help="h2load requests per gRPC case")
    parser.add_argument("--calls", type=int, default=2000, help="sequential gRPC calls for latency")
    parser.add_argument("--http1-requests", type=int, default=4000, help="short HTTP/1.1 requests per case")
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        raise SystemExit("needs h2load (Debian nghttp2-client)")
    with tempfile.TemporaryDirectory(prefix="smi-http2-bench-") as tmp:
        work = Path(tmp)
        result = {
            "note": "measured on a loaded, shared 2-core machine; plain text between the sidecars",
            "grpc_unary": grpc_case(work, args.requests, args.calls),
            "http1_between_sidecars": {
                "http1": http1_case(work, args.http1_requests, h1_over_h2=False),
                "h1_over_h2": http1_case(work, args.http1_requests, h1_over_h2=True),
            },
        }
    out = ROOT / "bench" / "results" / "http2.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
