"""The controller-restart drill: ``smi controller``'s operator restarted under load.

A real kopf operator against kmock's KubernetesEmulator feeds a real config server
(``tests.controllers.conftest``); two real sidecars (``smi proxy``, plain text) and the
demo bookstore run as processes on loopback addresses of their own, as pods ``web-1``
(the caller) and ``api-v1-1``.  Load goes through web-1's sidecar to the ``api`` service
while the operator is stopped and started again ``restarts`` times (each restart re-lists
the cluster; the streams stay open and keep their config).  No request may fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import kmock
from kmock._internal import parsing as kmock_parsing

from smi.compile import Compiler, MeshSettings
from smi.distribution import ConfigService
from smi.groups import MESH_GROUPS
from smi.runtime.addresses import ADMIN_PORT, INBOUND_PORT, OUTBOUND_PORT
from smi.runtime.podrunning import http_get
from smi.runtime.settings import child_environment
from smi.state import Store
from tests.controllers import objects as o
from tests.controllers.conftest import FAST, Emulator, Mesh, _parse_path_with_namespaces, _register
from tests.distribution.helpers import wait_until
from tests.drills.load import DrillResult, Load

URL = "http://api.default/books"


def _pod(name: str, *, app: str, sa: str, ip: str) -> dict[str, Any]:
    pod = o.pod(name, app=app, sa=sa, ip=ip)
    pod["metadata"]["annotations"] = {
        "smi-mesh.io/inbound-port": str(INBOUND_PORT),
        "smi-mesh.io/app-address": ip,  # the app listens on the pod's own loopback address
    }
    return pod


@contextlib.asynccontextmanager
async def _cluster() -> AsyncIterator[kmock.KubernetesEmulator]:
    original = kmock_parsing.parse_path
    kmock_parsing.parse_path = _parse_path_with_namespaces(original)
    try:
        async with Emulator() as emulator, kmock.Server(emulator):
            _register(emulator)
            yield emulator
    finally:
        kmock_parsing.parse_path = original


@contextlib.contextmanager
def _processes(work: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _start(started: list[subprocess.Popen[bytes]], argv: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        started.append(subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))


def _sidecar(config_url: str, *, pod: str, ip: str) -> list[str]:
    return [
        sys.executable, "-m", "smi.cli.main", "proxy", "--control-plane", config_url, "--mtls", "off",
        "--namespace", o.NS, "--pod", pod, "--outbound", f"{ip}:{OUTBOUND_PORT}",
        "--inbound", f"{ip}:{INBOUND_PORT}", "--admin", f"{ip}:{ADMIN_PORT}",
    ]  # fmt: skip


async def _ready(ip: str) -> bool:
    status, _ = await http_get(ip, ADMIN_PORT, "/ready")
    return status == 200


async def controller_restart(work: Path, *, workers: int = 4, restarts: int = 3) -> DrillResult:
    base = f"127.{random.randint(100, 239)}.{random.randint(0, 255)}"
    web_ip, api_ip = f"{base}.11", f"{base}.12"
    env = child_environment(os.environ)
    async with _cluster() as cluster:
        compiler = Compiler(MeshSettings(), MESH_GROUPS)
        service = ConfigService(store=Store(), compiler=compiler.compile_proxy, coalescing=FAST, host="127.0.0.1")
        async with service:
            mesh = Mesh(cluster, service, compiler)
            try:
                await mesh.create("/api/v1/namespaces", o.namespace())
                for sa in ("web", "api"):
                    await mesh.create(o.SAS, o.service_account(sa))
                await mesh.create(o.PODS, _pod("web-1", app="web", sa="web", ip=web_ip))
                await mesh.create(o.PODS, _pod("api-v1-1", app="api", sa="api", ip=api_ip))
                await mesh.create(o.SERVICES, o.service("api", app="api"))
                await mesh.create(o.ROUTES, o.routes())
                await mesh.create(o.TARGETS, o.target())
                await mesh.start_operator()
                with _processes(work) as started:
                    app_env = {**env, "POD_IP": api_ip, "PORT": "8080", "BOOKSTORE_VERSION": "v1"}
                    _start(started, [sys.executable, "-m", "smi.demo.bookstore"], app_env, work / "api-app.log")
                    _start(started, _sidecar(service.url, pod="api-v1-1", ip=api_ip), env, work / "api-sidecar.log")
                    _start(started, _sidecar(service.url, pod="web-1", ip=web_ip), env, work / "web-sidecar.log")
                    for ip in (web_ip, api_ip):
                        await _wait_async(ip, within=60)
                    load = Load(proxy=(web_ip, OUTBOUND_PORT), url=URL, workers=workers)
                    with load:
                        await wait_until(lambda: load.answered("bookstore") >= 50, within=60, what="the load answered")
                        for _ in range(restarts):
                            await mesh.restart()
                            target = load.answered("bookstore") + 100

                            def caught_up(target: int = target) -> bool:
                                return load.answered("bookstore") >= target

                            await wait_until(caught_up, within=60, what="answers after the restart")
                        return await asyncio.to_thread(load.result, "controller-restart")
            finally:
                await mesh.stop_operator()


async def _wait_async(ip: str, *, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await _ready(ip):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for the sidecar at {ip} to be ready")
        await asyncio.sleep(0.05)
