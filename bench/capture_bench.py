"""Benchmark of issue 14's data paths (a benchmark, not a test): UDP through the mesh, and capture's cost.

1. **UDP echo through two sidecars vs direct.**  A UDP echo app (a subprocess); the client
   sends one datagram and waits for its answer, again and again from one socket (one
   session), for ``--seconds``.  ``direct``: to the app.  ``mesh``: to a client sidecar's
   ``--udp-forward`` listener -> mTLS (``--mtls strict``, certificates from a real CA in a
   thread of this process) -> the server sidecar's inbound UDP port -> the app.  Figures:
   datagrams per second (ping-pong, so 1 / round trip), p50 / p99 round trip, and the
   latency the two sidecars add.
2. **Original-destination capture on the HTTP path: CPU per request, capture on vs off.**
   ``smi proxy`` outbound listener used as the app's HTTP proxy (not redirected), with the
   default capture (``SO_ORIGINAL_DST`` asked for every accepted connection) and with
   ``--no-capture`` (the outbound listener as before issue 14).  Two shapes: a new connection
   per request (the worst case for capture: its work is per connection) and keep-alive.  As
   root, a third row: connections *redirected* by proxy-init's rules in a network namespace
   (``SO_ORIGINAL_DST`` + sniffing + hand-over, a new connection per request).  CPU per
   request = the sidecar's utime+stime during the run / requests.

Bounded: every loop stops after ``--seconds`` or ``--max`` exchanges.  Figures are from
whatever machine it runs on; on the shared 2-core development machine they are noisy
(labelled so in the JSON).  Writes ``bench/results/capture.json``.
Run: ``python bench/capture_bench.py [--seconds 5] [--max 20000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_bench import (
    CLIENT_ID,
    CLIENT_IP,
    SERVER_ID,
    SERVER_IP,
    control_plane,
    cpu_seconds,
    free_port,
    mtls_flags,
    wait_port,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "capture.json"
ECHO = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind((sys.argv[1],int(sys.argv[2])))\n"
    "while True:\n d,a=s.recvfrom(65536);s.sendto(d,a)\n"
)
ORIGIN = (
    "import asyncio,sys\n"
    "class P(asyncio.Protocol):\n"
    " def connection_made(s,t): s.t=t;s.b=b''\n"
    " def data_received(s,d):\n"
    "  s.b+=d\n"
    "  while b'\\r\\n\\r\\n' in s.b:\n"
    "   _,_,s.b=s.b.partition(b'\\r\\n\\r\\n');s.t.write(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok')\n"
    "async def main():\n"
    " srv=await asyncio.get_running_loop().create_server(P,sys.argv[1],int(sys.argv[2]));await srv.serve_forever()\n"
    "asyncio.run(main())\n"
)


@contextmanager
def started(argv: list[str], *, wait: tuple[str, int] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if wait is not None:
            wait_port(*wait, timeout=60)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def ping_pong(address: tuple[str, int], *, seconds: float, limit: int) -> dict[str, float]:
    rtts: list[float] = []
    lost = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        end = time.monotonic() + seconds
        while time.monotonic() < end and len(rtts) + lost < limit:
            start = time.perf_counter()
            sock.sendto(b"x" * 64, address)
            try:
                sock.recvfrom(65536)
            except TimeoutError:
                lost += 1
                continue
            rtts.append(time.perf_counter() - start)
    if not rtts:
        raise RuntimeError(f"no answer from {address}")
    quantiles = statistics.quantiles(rtts, n=100)
    return {
        "datagrams_per_second": len(rtts) / sum(rtts), "exchanges": len(rtts), "lost": lost,
        "p50_ms": quantiles[49] * 1000, "p99_ms": quantiles[98] * 1000,
    }  # fmt: skip


def warm_up(address: tuple[str, int], *, limit: float = 60.0) -> None:
    """Until the path answers (the sidecars get their certificates first), bounded."""
    deadline = time.monotonic() + limit
    while True:
        try:
            ping_pong(address, seconds=0.5, limit=50)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise


def udp_configs(app_port: int, inbound_port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    node_c = {"namespace": "default", "pod": "client-pod", "service_account": "client", "identity": CLIENT_ID,
              "address": CLIENT_IP, "workload": "client"}  # fmt: skip
    node_s = {"namespace": "default", "pod": "server-pod", "service_account": "server", "identity": SERVER_ID,
              "address": SERVER_IP, "workload": "echo"}  # fmt: skip
    endpoint = {"address": SERVER_IP, "port": app_port, "proxy_port": inbound_port, "identity": SERVER_ID,
                "workload": "echo"}  # fmt: skip
    cluster = {"name": "default/echo:53", "namespace": "default", "service": "echo", "port": 53,
               "protocol": "udp", "endpoints": [endpoint]}  # fmt: skip
    svc = {"namespace": "default", "name": "echo", "hostnames": ["echo.default"],
           "ports": [{"port": 53, "protocol": "udp", "cluster": "default/echo:53"}]}  # fmt: skip
    rule = {"name": "default/echo/UDPRoute/echo", "sources": [CLIENT_ID], "protocol": "udp", "ports": [app_port]}
    inbound = {"ports": [{"port": app_port, "protocol": "udp", "name": "echo"}], "app_address": SERVER_IP,
               "rules": [rule]}  # fmt: skip
    return {"node": node_c, "outbound": {"services": [svc], "clusters": [cluster]}}, {
        "node": node_s,
        "inbound": inbound,
    }


def sidecar(config: Path, *, outbound: str, inbound: str, admin: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "smi.cli.proxy", "--config-file", str(config), "--log-level", "warning",
            "--outbound", outbound, "--inbound", inbound, "--admin", f"127.0.0.1:{admin}", *extra]  # fmt: skip


def udp_bench(tmp: Path, *, seconds: float, limit: int) -> dict[str, Any]:
    app_port = free_port(SERVER_IP)
    inbound_port, forward_port = free_port(SERVER_IP), free_port(CLIENT_IP)
    client_cfg, server_cfg = udp_configs(app_port, inbound_port)
    (tmp / "client.json").write_text(json.dumps(client_cfg))
    (tmp / "server.json").write_text(json.dumps(server_cfg))
    with (
        control_plane(tmp) as (ca_url, bundle, tokens),
        started([sys.executable, "-c", ECHO, SERVER_IP, str(app_port)]),
    ):
        warm_up((SERVER_IP, app_port))  # the app has bound its socket
        direct = ping_pong((SERVER_IP, app_port), seconds=seconds, limit=limit)
        server_argv = sidecar(tmp / "server.json", outbound=f"127.0.0.1:{free_port()}",
                              inbound=f"{SERVER_IP}:{inbound_port}", admin=free_port(),
                              extra=mtls_flags(ca_url, bundle, tokens["server"], "server"))  # fmt: skip
        client_argv = sidecar(tmp / "client.json", outbound=f"127.0.0.1:{free_port()}", inbound=f"{CLIENT_IP}:0",
                              admin=free_port(), extra=[*mtls_flags(ca_url, bundle, tokens["client"], "client"),
                              "--bind-address", CLIENT_IP,
                              "--udp-forward", f"{CLIENT_IP}:{forward_port}=echo.default:53"])  # fmt: skip
        with started(server_argv, wait=(SERVER_IP, inbound_port)), started(client_argv) as client:
            address = (CLIENT_IP, forward_port)
            warm_up(address)
            cpu0 = cpu_seconds(client.pid)
            mesh = ping_pong(address, seconds=seconds, limit=limit)
            mesh["client_sidecar_cpu_us_per_datagram"] = (cpu_seconds(client.pid) - cpu0) / mesh["exchanges"] * 1e6
    return {
        "direct": direct, "mesh_mtls": mesh,
        "added_p50_ms": mesh["p50_ms"] - direct["p50_ms"], "added_p99_ms": mesh["p99_ms"] - direct["p99_ms"],
    }  # fmt: skip


def http_requests(address: tuple[str, int], request: bytes, *, keep_alive: bool, seconds: float, limit: int) -> int:
    done = 0
    end = time.monotonic() + seconds
    sock: socket.socket | None = None
    while time.monotonic() < end and done < limit:
        if sock is None:
            sock = socket.create_connection(address, timeout=5)
        sock.sendall(request)
        data = b""
        while not data.endswith(b"ok"):
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"closed by {address}: {data[:200]!r}")
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer from {address}: {data[:200]!r}")
        done += 1
        if not keep_alive:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()
    return done


def http_config(origin_port: int) -> dict[str, Any]:
    node = {"namespace": "default", "pod": "client-pod", "service_account": "client", "identity": CLIENT_ID,
            "address": "", "workload": "client"}  # fmt: skip
    cluster = {"name": "default/web:80", "namespace": "default", "service": "web", "port": 80, "protocol": "http",
               "endpoints": [{"address": "127.0.0.1", "port": origin_port, "workload": "web"}]}  # fmt: skip
    svc = {"namespace": "default", "name": "web", "hostnames": ["web", "web.default", "198.19.0.1"],
           "ports": [{"port": 80, "protocol": "http", "cluster": "default/web:80"}]}  # fmt: skip
    return {"node": node, "outbound": {"services": [svc], "clusters": [cluster]}}


def capture_cost(tmp: Path, *, seconds: float, limit: int) -> dict[str, Any]:
    origin_port = free_port()
    (tmp / "web.json").write_text(json.dumps(http_config(origin_port)))
    request = b"GET http://web.default/ HTTP/1.1\r\nHost: web.default\r\n\r\n"
    results: dict[str, Any] = {}
    with started([sys.executable, "-c", ORIGIN, "127.0.0.1", str(origin_port)], wait=("127.0.0.1", origin_port)):
        for mode, extra in (("capture", []), ("no_capture", ["--no-capture"])):
            port = free_port()
            argv = sidecar(tmp / "web.json", outbound=f"127.0.0.1:{port}", inbound="127.0.0.1:0", admin=free_port(),
                           extra=["--mtls", "off", *extra])  # fmt: skip
            with started(argv, wait=("127.0.0.1", port)) as proxy:
                for shape, keep in (("new_connection", False), ("keep_alive", True)):
                    http_requests(("127.0.0.1", port), request, keep_alive=keep, seconds=0.5, limit=200)  # warm-up
                    cpu0, t0 = cpu_seconds(proxy.pid), time.monotonic()
                    n = http_requests(("127.0.0.1", port), request, keep_alive=keep, seconds=seconds, limit=limit)
                    results[f"{mode}_{shape}"] = {
                        "requests": n, "cpu_us_per_request": (cpu_seconds(proxy.pid) - cpu0) / n * 1e6,
                        "requests_per_second": n / (time.monotonic() - t0),
                    }  # fmt: skip
        if os.geteuid() == 0:
            results["redirected_new_connection"] = redirected(tmp, origin_port, seconds=seconds, limit=limit)
    for shape in ("new_connection", "keep_alive"):
        on, off = results[f"capture_{shape}"], results[f"no_capture_{shape}"]
        results[f"capture_added_cpu_us_per_request_{shape}"] = on["cpu_us_per_request"] - off["cpu_us_per_request"]
    return results


VIP_REQUEST = b"GET / HTTP/1.1\r\nHost: web\r\n\r\n"


def redirected_client(seconds: float, limit: int) -> None:
    """Inside the pod namespace: wait until the captured path answers, then measure (prints ``n elapsed``)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            http_requests(("198.19.0.1", 80), VIP_REQUEST, keep_alive=False, seconds=0.3, limit=50)
            break
        except (OSError, RuntimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling a bounded start-up wait
    started_at = time.monotonic()
    n = http_requests(("198.19.0.1", 80), VIP_REQUEST, keep_alive=False, seconds=seconds, limit=limit)
    print(n, time.monotonic() - started_at)


def redirected(tmp: Path, origin_port: int, *, seconds: float, limit: int) -> dict[str, Any]:
    """App -> 198.19.0.1:80 in a namespace, redirected to the sidecar's 15001 by proxy-init's rules."""
    from proxy.init import CaptureSettings, install_rules
    from smi.runtime import netns

    fabric = netns.Fabric(netns.make_prefix(f"capture-bench-{os.getpid()}-{time.time()}"))
    try:
        fabric.create()
        ns = fabric.add("pod", "198.18.0.2")
        rules = install_rules(CaptureSettings(proxy_gid=1337))
        netns.run([*netns.exec_prefix(ns), "iptables-restore", "--noflush"], stdin=rules)
        origin = [*netns.exec_prefix(ns), sys.executable, "-c", ORIGIN, "127.0.0.1", str(origin_port)]
        proxy_argv = sidecar(tmp / "web.json", outbound="127.0.0.1:15001", inbound="127.0.0.1:15003", admin=15000,
                             extra=["--mtls", "off"])  # fmt: skip
        argv = [*netns.exec_prefix(ns), "setpriv", "--regid=1337", "--clear-groups", *proxy_argv]
        client = [*netns.exec_prefix(ns), sys.executable, __file__, "--redirected-client", str(seconds), str(limit)]
        with started(origin), started(argv) as proxy:
            cpu0 = cpu_seconds(proxy.pid)
            out = subprocess.run(client, capture_output=True, text=True, timeout=seconds + 90, check=True).stdout
            n, elapsed = out.split()
            cpu = cpu_seconds(proxy.pid) - cpu0
            return {"requests": int(n), "cpu_us_per_request": cpu / int(n) * 1e6,
                    "requests_per_second": int(n) / float(elapsed)}  # fmt: skip
    finally:
        fabric.destroy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measured case")
    parser.add_argument("--max", type=int, default=20000, help="exchanges per measured case at most")
    parser.add_argument("--redirected-client", nargs=2, metavar=("SECONDS", "MAX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.redirected_client:
        redirected_client(float(args.redirected_client[0]), int(args.redirected_client[1]))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "machine": "whatever ran it; on the shared 2-core development machine the figures are noisy",
            "udp": udp_bench(Path(tmp), seconds=args.seconds, limit=args.max),
            "http_capture": capture_cost(Path(tmp), seconds=args.seconds, limit=args.max),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    udp, http = result["udp"], result["http_capture"]
    print(f"UDP ping-pong direct: {udp['direct']['datagrams_per_second']:.0f}/s p50 {udp['direct']['p50_ms']:.3f} ms")
    print(f"UDP ping-pong mesh (2 sidecars, mTLS): {udp['mesh_mtls']['datagrams_per_second']:.0f}/s "
          f"p50 {udp['mesh_mtls']['p50_ms']:.3f} ms p99 {udp['mesh_mtls']['p99_ms']:.3f} ms; "
          f"added p50 {udp['added_p50_ms']:.3f} ms")  # fmt: skip
    for key, value in http.items():
        if isinstance(value, dict):
            cpu, rate = value["cpu_us_per_request"], value["requests_per_second"]
            print(f"HTTP {key}: {cpu:.1f} us CPU/request, {rate:.0f} req/s")
    added = (
        http["capture_added_cpu_us_per_request_new_connection"],
        http["capture_added_cpu_us_per_request_keep_alive"],
    )
    print(f"capture's added CPU per request: new connection {added[0]:.1f} us, keep-alive {added[1]:.1f} us")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
