"""Benchmark of the sidecar proxy against direct and HAProxy (a benchmark, not a test).

Same workload for every case: small GET, keep-alive.

* origin: HAProxy answering ``http-request return`` itself (a C server, one thread)
* ``direct``: client -> origin
* ``haproxy``: client -> HAProxy (nbthread 1, one hop) -> origin
* ``proxy_outbound``: client -> ``smi proxy`` outbound listener (routing: a TrafficSplit with a
  header match, round-robin, metrics) -> origin
* ``proxy_inbound``: client -> ``smi proxy`` inbound listener (identity from the source
  address, an HTTPRouteGroup allow rule with path regex/method/header, metrics) -> origin
* ``mesh``: client -> client sidecar outbound -> PROXY v2 -> server sidecar inbound -> origin
* ``mesh_mtls``: the same full mesh path with ``--mtls strict``: both sidecars get their
  certificates from a real CA (``ConfigService`` + the CA API over HTTPS, in a thread of this
  process, bootstrap tokens), the hop between them is pooled mTLS (TLS 1.3, session
  resumption); the summary gives its ratio to ``mesh`` (plain text)
* ``haproxy_mtls_pair``: the anchor for ``mesh_mtls``: two HAProxy processes in series
  (nbthread 1 each) with mutual TLS between them: TLS 1.3, ECDSA P-256 workload
  certificates for the same two SPIFFE ids from the same kind of CA, each side verifying
  the other's chain, keep-alive and connection reuse on both hops.  The summary gives
  the CPU-per-request ratio of ``mesh_mtls`` to this pair (both sums of two processes).

Measures saturation throughput with ``wrk -t1 -c32`` and the CPU time the proxy (or HAProxy)
under test spent per request during it (``/proc/<pid>/stat`` utime+stime / requests: far
less sensitive to other work on the machine than req/s), latency percentiles at a fixed
1,000 requests/s with an open-loop generator (``OpenLoop`` below: asyncio + httptools,
requests scheduled on a fixed timetable and timed from their scheduled start, so a stall
is not hidden), and the proxy's idle and loaded RSS.  The generator's own overhead is the
``direct`` row.  Writes ``bench/results/proxy.json``.

Placement on the 2-core machine: proxies and HAProxy-under-test on CPU 0, wrk, the
origin and the latency generator on CPU 1 (``taskset``).  Other work on the machine makes
the figures noisy: compare the ratios, and re-run on a quiet machine.

Needs the Debian packages ``haproxy`` and ``wrk``; installs nothing itself.
Each figure is measured ``--repeat`` times (default 3) and the median is reported; every
run is kept in the JSON.
Run: ``python bench/proxy_bench.py [--duration 10] [--rate 1000] [--repeat 3] [--code DIR] [--cases a,b] [--tap]``.
``--tap`` adds ``proxy_outbound_tap_nomatch``: the same sidecar while a tap subscriber whose
filter matches nothing is connected (compare with ``proxy_outbound``, where no one taps and
the hot path reads one attribute per request; ``--code`` with the code before tap existed
shows that one read costs nothing measurable).
``--code DIR`` runs the sidecars from another checkout (e.g. ``git worktree add /tmp/before
main``) with this benchmark, so before and after are measured the same way; ``--cases``
measures only the named cases (and the summary lines they allow).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httptools

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "proxy.json"
CLIENT_IP, SERVER_IP = "127.0.0.11", "127.0.0.12"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/server"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def rss(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


CODE: dict[str, str] = {}  # env for the sidecar processes (``--code``)


@contextmanager
def process(cmd: list[str], *, cpu: str | None, port: tuple[str, int]) -> Iterator[subprocess.Popen[bytes]]:
    full = (["taskset", "-c", cpu] if cpu and shutil.which("taskset") else []) + cmd
    env = {**os.environ, **CODE} if cmd[0] == sys.executable else None
    proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_port(*port)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def haproxy_cfg(body: str) -> str:
    return (
        "global\n  nbthread 1\n  maxconn 4000\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n" + body
    )


def proxy_config(*, origin_port: int, mesh_inbound_port: int) -> dict[str, Any]:
    """One ProxyConfig JSON per role; built as plain JSON to keep the bench independent."""
    match = {"name": "all", "path_regex": "/", "methods": ["GET"], "headers": []}
    node_c = {"namespace": "default", "pod": "client", "service_account": "client", "identity": CLIENT_ID,
              "address": CLIENT_IP, "workload": "client"}  # fmt: skip
    node_s = {"namespace": "default", "pod": "server", "service_account": "server", "identity": SERVER_ID,
              "address": SERVER_IP, "workload": "server"}  # fmt: skip

    def outbound(endpoint: dict[str, Any]) -> dict[str, Any]:
        cluster = {"name": "default/web-v1:80", "namespace": "default", "service": "web-v1", "port": 80,
                   "protocol": "http", "endpoints": [endpoint], "lb_policy": "round_robin"}  # fmt: skip
        root = {**cluster, "name": "default/web:80", "service": "web"}
        split = {"name": "default/web-split", "matches": [match],
                 "backends": [{"cluster": "default/web-v1:80", "weight": 100, "service": "web-v1"}]}  # fmt: skip
        port = {"port": 80, "protocol": "http", "cluster": "default/web:80", "splits": [split]}
        svc = {"namespace": "default", "name": "web", "hostnames": ["web", "web.default"], "ports": [port]}
        return {"services": [svc], "clusters": [root, cluster]}

    inbound = {
        "ports": [{"port": origin_port, "protocol": "http", "name": "http"}],
        "app_address": "127.0.0.1",
        "permissive": False,
        "rules": [
            {
                "name": "default/web-access/HTTPRouteGroup/all",
                "sources": [CLIENT_ID],
                "protocol": "http",
                "ports": [origin_port],
                "matches": [match],
            }
        ],
        "peers": [[CLIENT_IP, CLIENT_ID], ["127.0.0.1", CLIENT_ID]],
    }
    direct_ep = {"address": "127.0.0.1", "port": origin_port, "workload": "web"}
    mesh_ep = {"address": SERVER_IP, "port": origin_port, "proxy_port": mesh_inbound_port, "identity": SERVER_ID,
               "workload": "server"}  # fmt: skip
    return {
        "one_hop": {"node": node_c, "outbound": outbound(direct_ep)},
        "client": {"node": node_c, "outbound": outbound(mesh_ep)},
        "server": {"node": node_s, "inbound": inbound},
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return float(ordered[len(ordered) // 2])


def run_wrk(port: int, *, duration: int, cpu: str) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c32", f"-d{duration}s", "--latency", "-H", "Host: web", f"http://127.0.0.1:{port}/"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cpu, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_second": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",  # type: ignore[dict-item]
    }


class _Conn(asyncio.Protocol):
    def __init__(self, done: asyncio.Queue[int]) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done = done
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.done.put_nowait(self.parser.get_status_code())


class OpenLoop:
    """Requests at a fixed rate on a fixed timetable; latency from each scheduled start."""

    def __init__(self, port: int, *, rate: int, seconds: float, connections: int = 16) -> None:
        self.port, self.rate, self.seconds, self.connections = port, rate, seconds, connections

    async def run(self) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        request = b"GET / HTTP/1.1\r\nHost: web\r\n\r\n"
        total = int(self.rate * self.seconds)
        latencies: list[float] = []
        failures = 0
        idle: asyncio.Queue[tuple[_Conn, asyncio.Queue[int]]] = asyncio.Queue()
        for _ in range(self.connections):
            q: asyncio.Queue[int] = asyncio.Queue()
            _, conn = await loop.create_connection(lambda q=q: _Conn(q), "127.0.0.1", self.port)  # type: ignore[misc]
            idle.put_nowait((conn, q))

        async def one(scheduled: float) -> None:
            nonlocal failures
            conn, q = await idle.get()
            assert conn.transport is not None
            conn.transport.write(request)
            status = await q.get()
            latencies.append(time.perf_counter() - scheduled)
            failures += status != 200
            idle.put_nowait((conn, q))

        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            at = start + i / self.rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(at)))
        await asyncio.gather(*tasks)
        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

        return {"requests": total, "failures": failures, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
                "max_ms": latencies[-1] * 1000}  # fmt: skip


def latency(port: int, *, rate: int, seconds: float, cpu: str) -> dict[str, float]:
    """Runs the open-loop generator in a child process pinned to ``cpu`` (on uvloop)."""
    code = (
        f"import asyncio, json, sys, uvloop; sys.path.insert(0, {str(REPO)!r}); "
        "from bench.proxy_bench import OpenLoop; "
        f"print(json.dumps(uvloop.run(OpenLoop({port}, rate={rate}, seconds={seconds}).run())))"
    )
    cmd = [sys.executable, "-c", code]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cpu, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode:
        raise RuntimeError(out.stderr)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def haproxy_mtls_pair(tmp: Path, *, origin_port: int) -> tuple[Path, Path, int, int]:
    """Configs for two HAProxy processes in series with mTLS between them: (client cfg, server cfg, ports)."""
    from proxy.identity.keys import build_csr, generate_key, key_pem
    from smi.identity import CertificateAuthority
    from smi.identity.authenticating import WorkloadIdentity

    ca = CertificateAuthority.open(tmp / "haproxy-ca", trust_domain="cluster.local")
    bundle = tmp / "haproxy-bundle.pem"
    bundle.write_text(ca.trust_bundle_pem)
    pems: dict[str, Path] = {}
    for sa in ("client", "server"):
        key = generate_key()
        issued = ca.issue(build_csr(key, f"spiffe://cluster.local/ns/default/sa/{sa}"),
                          identity=WorkloadIdentity("default", sa))  # fmt: skip
        pems[sa] = tmp / f"haproxy-{sa}.pem"
        pems[sa].write_bytes(issued.certificate_chain.encode() + key_pem(key))
    front, back = free_port(), free_port(SERVER_IP)
    tls = f"ca-file {bundle} verify required ssl-min-ver TLSv1.3"
    client = tmp / "haproxy-client.cfg"
    client.write_text(
        haproxy_cfg(
            f"frontend fe\n  bind 127.0.0.1:{front}\n  default_backend be\n"
            f"backend be\n  http-reuse always\n  server s1 {SERVER_IP}:{back} ssl crt {pems['client']} {tls}\n"
        )
    )
    server = tmp / "haproxy-server.cfg"
    server.write_text(
        haproxy_cfg(
            f"frontend fe\n  bind {SERVER_IP}:{back} ssl crt {pems['server']} {tls}\n  default_backend be\n"
            f"backend be\n  http-reuse always\n  server s1 127.0.0.1:{origin_port}\n"
        )
    )
    return client, server, front, back


@contextmanager
def tap_subscriber(admin_port: int) -> Iterator[None]:
    """A ``GET /tap`` held open on the sidecar's admin port with a filter no request matches."""
    sock = socket.create_connection(("127.0.0.1", admin_port), timeout=5)
    try:
        sock.sendall(b"GET /tap?path_prefix=/no-request-has-this-path HTTP/1.1\r\nHost: admin\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("the sidecar closed the tap stream")
            head += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"tap refused: {head.splitlines()[0]!r}")
        yield
    finally:
        sock.close()


def smi_proxy(config_path: Path, *, outbound: int, inbound: tuple[str, int], admin: int) -> list[str]:
    # ``python -m smi.cli.proxy`` is ``smi proxy`` without importing the other sub-commands
    return [sys.executable, "-m", "smi.cli.proxy", "--config-file", str(config_path), "--log-level", "warning",
            "--outbound", f"127.0.0.1:{outbound}", "--inbound", f"{inbound[0]}:{inbound[1]}",
            "--admin", f"127.0.0.1:{admin}"]  # fmt: skip


@contextmanager
def control_plane(tmp: Path) -> Iterator[tuple[str, str, dict[str, Path]]]:
    """A CA API over HTTPS in a thread: (CA URL, trust bundle file, token file per service account)."""
    from smi.distribution import ConfigService
    from smi.identity import BootstrapTokenAuthenticator, CertificateAuthority
    from smi.identity.server import make_app
    from smi.identity.serving import ControlPlaneTls
    from smi.state import Store

    ca = CertificateAuthority.open(tmp / "ca", trust_domain="cluster.local")
    tokens = BootstrapTokenAuthenticator()
    files: dict[str, Path] = {}
    for sa in ("client", "server"):
        files[sa] = tmp / f"{sa}.token"
        files[sa].write_text(tokens.mint(namespace="default", pod=f"{sa}-pod", service_account=sa))
    bundle = tmp / "bundle.pem"
    bundle.write_text(ca.trust_bundle_pem)
    loop = asyncio.new_event_loop()
    service = ConfigService(
        store=Store(), compiler=lambda snapshot, *, namespace, pod: None,
        tls=ControlPlaneTls(ca, namespace="smi-system", service_account="smi-controller"),
        ca_app=make_app(ca, tokens),
    )  # fmt: skip
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(service.start(), loop).result(15)
    try:
        yield service.url + "/ca", str(bundle), files
    finally:
        asyncio.run_coroutine_threadsafe(service.stop(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def mtls_flags(ca_url: str, bundle: str, token: Path, sa: str) -> list[str]:
    return ["--mtls", "strict", "--ca-url", ca_url, "--trust-bundle", bundle, "--token-file", str(token),
            "--namespace", "default", "--service-account", sa]  # fmt: skip


def summarize(cases: dict[str, Any]) -> dict[str, Any]:
    """Ratios between the measured cases (only those whose cases were measured)."""

    def ratio(a: str, b: str) -> float:
        return float(
            round(
                cases[a]["saturation"]["requests_per_second"] / max(cases[b]["saturation"]["requests_per_second"], 1), 3
            )
        )

    summary: dict[str, Any] = {}
    direct_lat = cases["direct"]["latency"] if "direct" in cases else None
    for name in ("haproxy", "haproxy_mtls_pair", "proxy_outbound", "proxy_inbound", "mesh", "mesh_mtls"):
        if name not in cases:
            continue
        hops = 2 if name.startswith("mesh") or name == "haproxy_mtls_pair" else 1
        lat = cases[name]["latency"]
        s: dict[str, Any] = {"cpu_us_per_request": cases[name]["saturation"].get("cpu_us_per_request")}
        if "haproxy" in cases:
            s["throughput_vs_haproxy"] = ratio(name, "haproxy")
            # HAProxy's CPU per request / ours (per proxy process, so a mesh is shared by its 2 hops):
            # the throughput ratio each would reach alone on one core
            s["cpu_efficiency_vs_haproxy"] = round(
                cases["haproxy"]["saturation"]["cpu_us_per_request"]
                / max(cases[name]["saturation"]["cpu_us_per_request"] / hops, 1e-9),
                3,
            )
        if direct_lat is not None:
            s["throughput_vs_direct"] = ratio(name, "direct")
            s["added_p50_ms_per_hop"] = round((lat["p50_ms"] - direct_lat["p50_ms"]) / hops, 3)
            s["added_p99_ms_per_hop"] = round((lat["p99_ms"] - direct_lat["p99_ms"]) / hops, 3)
        if not name.startswith("haproxy"):
            s["idle_rss_mb"] = max(v["VmRSS"] for v in cases[name]["idle_rss_mb"].values())
            s["loaded_rss_mb"] = max(v["VmHWM"] for v in cases[name]["loaded_rss_mb"].values())
        summary[name] = s
    if "mesh" in cases and "mesh_mtls" in cases:
        plain, mtls = cases["mesh"], cases["mesh_mtls"]
        summary["mesh_mtls"]["vs_plain_mesh"] = {
            "throughput": ratio("mesh_mtls", "mesh"),
            "p50": round(mtls["latency"]["p50_ms"] / max(plain["latency"]["p50_ms"], 1e-9), 3),
            "p99": round(mtls["latency"]["p99_ms"] / max(plain["latency"]["p99_ms"], 1e-9), 3),
        }
    if "haproxy_mtls_pair" in cases and "mesh_mtls" in cases:
        # the anchor: CPU per request of the mTLS mesh path (two sidecars) / two HAProxies with mTLS
        summary["mesh_mtls"]["cpu_vs_haproxy_mtls_pair"] = round(
            cases["mesh_mtls"]["saturation"]["cpu_us_per_request"]
            / max(cases["haproxy_mtls_pair"]["saturation"]["cpu_us_per_request"], 1e-9),
            3,
        )
    return summary


def main() -> int:  # noqa: C901 (one linear script: each case is an if)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="wrk seconds per case")
    parser.add_argument("--rate", type=int, default=1000, help="fixed rate for the latency run")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--proxy-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--code", type=Path, help="run the sidecars from this checkout (e.g. the code before)")
    parser.add_argument("--cases", default="", help="comma-separated cases to measure (default: all)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--tap",
        action="store_true",
        help="proxy_outbound again with a tap subscriber whose filter matches nothing (the cost of tap itself)",
    )
    args = parser.parse_args()
    if args.code is not None:
        CODE["PYTHONPATH"] = str(args.code.resolve())
    only = {c for c in args.cases.split(",") if c}

    def wanted(name: str) -> bool:
        return not only or name in only

    missing = [tool for tool in ("haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install -y {' '.join(missing)})", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="proxy-bench-"))
    origin_port = free_port()
    mesh_inbound = free_port(SERVER_IP)
    configs = proxy_config(origin_port=origin_port, mesh_inbound_port=mesh_inbound)
    for name, cfg in configs.items():
        (tmp / f"{name}.json").write_text(json.dumps(cfg))
    (tmp / "origin.cfg").write_text(
        haproxy_cfg(
            f"frontend origin\n  bind 127.0.0.1:{origin_port}\n"
            '  http-request return status 200 content-type text/plain string "hello from origin"\n'
        )
    )
    lb_port = free_port()
    (tmp / "lb.cfg").write_text(
        haproxy_cfg(
            f"frontend fe\n  bind 127.0.0.1:{lb_port}\n  default_backend be\n"
            f"backend be\n  http-reuse always\n  server s1 127.0.0.1:{origin_port}\n"
        )
    )
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "note": "2-core dev machine shared with other work: noisy"},
        "workload": "GET / small body, keep-alive; wrk -t1 -c32; latency at fixed rate, open loop",
        "repeat": args.repeat,
        "origin": "haproxy http-request return (nbthread 1)",
        "code": str(args.code) if args.code else str(REPO),
        "cases": {},
    }
    cases: dict[str, Any] = results["cases"]
    with process(["haproxy", "-db", "-f", str(tmp / "origin.cfg")], cpu=args.load_cpu, port=("127.0.0.1", origin_port)):

        def measure(name: str, port: int, pids: list[int]) -> None:
            idle = {str(p): rss(p) for p in pids}
            sats, lats = [], []
            for _ in range(max(args.repeat, 1)):
                before = sum(cpu_seconds(p) for p in pids)
                sat = run_wrk(port, duration=args.duration, cpu=args.load_cpu)
                used = sum(cpu_seconds(p) for p in pids) - before
                if pids and sat["requests"]:
                    sat["cpu_us_per_request"] = round(used / sat["requests"] * 1e6, 2)
                sats.append(sat)
                lats.append(latency(port, rate=args.rate, seconds=args.latency_seconds, cpu=args.load_cpu))
            loaded = {str(p): rss(p) for p in pids}
            sat_median: dict[str, Any] = {
                key: median([s[key] for s in sats])
                for key in ("requests_per_second", "cpu_us_per_request", "non_2xx")
                if all(key in s for s in sats)
            }
            lat_median = {key: median([v[key] for v in lats]) for key in lats[0]}
            cases[name] = {"saturation": sat_median, "latency": lat_median, "idle_rss_mb": idle,
                           "loaded_rss_mb": loaded, "runs": {"saturation": sats, "latency": lats}}  # fmt: skip
            sat, lat = sat_median, lat_median
            cpu_text = f"  {sat['cpu_us_per_request']:.1f} us CPU/req" if "cpu_us_per_request" in sat else ""
            line = f"{name:15s} {sat['requests_per_second']:10.0f} req/s{cpu_text}   p50 {lat['p50_ms']:.3f} ms  "
            print(line + f"p99 {lat['p99_ms']:.3f} ms  failures {lat['failures']} non2xx {sat['non_2xx']}", flush=True)

        if wanted("direct"):
            measure("direct", origin_port, [])
        if wanted("haproxy"):
            with process(
                ["haproxy", "-db", "-f", str(tmp / "lb.cfg")], cpu=args.proxy_cpu, port=("127.0.0.1", lb_port)
            ) as p:
                measure("haproxy", lb_port, [p.pid])
        if wanted("haproxy_mtls_pair"):
            client_cfg, server_cfg, front, back = haproxy_mtls_pair(tmp, origin_port=origin_port)
            with (
                process(["haproxy", "-db", "-f", str(server_cfg)], cpu=args.proxy_cpu, port=(SERVER_IP, back)) as ps,
                process(["haproxy", "-db", "-f", str(client_cfg)], cpu=args.proxy_cpu, port=("127.0.0.1", front)) as pc,
            ):  # fmt: skip
                measure("haproxy_mtls_pair", front, [pc.pid, ps.pid])
        out_port = free_port()
        admin_port = free_port()
        cmd = smi_proxy(tmp / "one_hop.json", outbound=out_port, inbound=("127.0.0.1", 0), admin=admin_port)
        if wanted("proxy_outbound"):
            with process(cmd, cpu=args.proxy_cpu, port=("127.0.0.1", out_port)) as p:
                time.sleep(0.5)
                measure("proxy_outbound", out_port, [p.pid])
                if args.tap:
                    with tap_subscriber(admin_port):
                        measure("proxy_outbound_tap_nomatch", out_port, [p.pid])
                    measure("proxy_outbound_after_tap", out_port, [p.pid])  # no subscriber again: the drift
        in_port = free_port()
        cmd = smi_proxy(tmp / "server.json", outbound=free_port(), inbound=("127.0.0.1", in_port), admin=free_port())
        if wanted("proxy_inbound"):
            with process(cmd, cpu=args.proxy_cpu, port=("127.0.0.1", in_port)) as p:
                time.sleep(0.5)
                measure("proxy_inbound", in_port, [p.pid])
        c_out = free_port()
        server_cmd = smi_proxy(
            tmp / "server.json", outbound=free_port(), inbound=(SERVER_IP, mesh_inbound), admin=free_port()
        )
        client_cmd = smi_proxy(tmp / "client.json", outbound=c_out, inbound=("127.0.0.1", 0), admin=free_port())
        if wanted("mesh"):
            with (
                process(server_cmd, cpu=args.proxy_cpu, port=(SERVER_IP, mesh_inbound)) as ps,
                process(client_cmd, cpu=args.proxy_cpu, port=("127.0.0.1", c_out)) as pc,
            ):
                time.sleep(0.5)
                measure("mesh", c_out, [pc.pid, ps.pid])
        if wanted("mesh_mtls"):
            with control_plane(tmp) as (ca_url, bundle, tokens):
                c_out, s_in = free_port(), free_port(SERVER_IP)
                server_cmd = smi_proxy(
                    tmp / "server.json", outbound=free_port(), inbound=(SERVER_IP, s_in), admin=free_port()
                )
                client_cmd = smi_proxy(tmp / "client.json", outbound=c_out, inbound=("127.0.0.1", 0), admin=free_port())
                client_json = json.loads((tmp / "client.json").read_text())
                for cluster in client_json["outbound"]["clusters"]:
                    for endpoint in cluster["endpoints"]:
                        if endpoint.get("proxy_port"):
                            endpoint["proxy_port"] = s_in
                (tmp / "client_mtls.json").write_text(json.dumps(client_json))
                client_cmd[client_cmd.index(str(tmp / "client.json"))] = str(tmp / "client_mtls.json")
                with (
                    process(server_cmd + mtls_flags(ca_url, bundle, tokens["server"], "server"), cpu=args.proxy_cpu,
                            port=(SERVER_IP, s_in)) as ps,
                    process(client_cmd + mtls_flags(ca_url, bundle, tokens["client"], "client"), cpu=args.proxy_cpu,
                            port=("127.0.0.1", c_out)) as pc,
                ):  # fmt: skip
                    time.sleep(0.5)
                    measure("mesh_mtls", c_out, [pc.pid, ps.pid])

    summary = summarize(cases)
    results["summary"] = summary
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print("\nsummary (CPU per request, ratios, added latency per hop at", args.rate, "req/s):")
    for name, item in summary.items():
        print(f"  {name:18s} " + "  ".join(f"{k} {v}" for k, v in item.items() if not isinstance(v, dict)))
        for k, v in item.items():
            if isinstance(v, dict):
                print(f"  {'':18s} {k}: {v}")
    print(f"wrote {args.results}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
