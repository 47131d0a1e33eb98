"""One running pod: its app containers and its sidecar, supervised, and its readiness.

The sidecar starts first and the app containers only once it is ready (it has its
certificate and its first config), like a Kubernetes native sidecar with a startup probe:
an app's first outbound call never meets a sidecar that answers 503 "no config".

A pod is ready (like a kubelet's readiness) when every container port of its app accepts
connections on the pod's address and its sidecar's admin ``/ready`` answers 200 (the sidecar
has its first config).  The prober checks every ``PROBE_INTERVAL`` and reports flips through
``on_ready``; a process exit flips the pod to not-ready at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from smi.model import Pod
from smi.runtime.addresses import ADMIN_PORT
from smi.runtime.environment import Forward
from smi.runtime.processes import STOP_GRACE, Supervised

logger = logging.getLogger(__name__)

PROBE_INTERVAL = 0.1


async def port_accepts(host: str, port: int, *, limit: float = 0.5) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=limit)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def http_get(host: str, port: int, path: str, *, limit: float = 1.0) -> tuple[int, bytes]:
    """A minimal HTTP/1.0 GET (status, body); status 0 when unreachable."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=limit)
    except (OSError, TimeoutError):
        return 0, b""
    return await http_exchange(reader, writer, host=host, path=path, limit=limit)


async def http_exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, host: str, path: str, limit: float
) -> tuple[int, bytes]:
    """One HTTP/1.0 GET on an open connection, which it closes; status 0 when the answer is not HTTP."""
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(-1), timeout=limit)
    except (OSError, TimeoutError):
        return 0, b""
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0, b""
    return status, body


class PodRunner:
    def __init__(
        self,
        *,
        pod: Pod,
        apps: Mapping[str, tuple[list[str], dict[str, str], str | None]],
        sidecar: tuple[list[str], dict[str, str]],
        forwards: tuple[Forward, ...],
        log_dir: Path,
        on_ready: Callable[[PodRunner], None],
        before_sidecar_start: Callable[[], None] | None = None,
    ) -> None:
        self.pod = pod
        self.forwards = forwards
        self.on_ready = on_ready
        self.ready = False
        self.stopped = False
        self.sidecar = Supervised(
            name=f"{pod.meta.namespace}/{pod.meta.name}/sidecar",
            argv=sidecar[0],
            env=sidecar[1],
            log_path=log_dir / "sidecar.log",
            on_change=self._poke,
            before_start=before_sidecar_start,
        )
        self.apps = {
            container: Supervised(
                name=f"{pod.meta.namespace}/{pod.meta.name}/{container}",
                argv=argv,
                env=env,
                cwd=cwd,
                log_path=log_dir / f"{container}.log",
                on_change=self._poke,
            )
            for container, (argv, env, cwd) in apps.items()
        }
        self._wake = asyncio.Event()
        self._prober: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.pod.meta.namespace, self.pod.meta.name)

    @property
    def ports(self) -> list[int]:
        return [p.container_port for c in self.pod.spec.containers for p in c.ports if p.protocol != "UDP"]

    @property
    def processes(self) -> list[Supervised]:
        return [self.sidecar, *self.apps.values()]

    def start(self) -> None:
        self.sidecar.start()
        self._prober = asyncio.create_task(self._probe(), name=f"probe {self.pod.meta.name}")

    async def sidecar_ready(self) -> bool:
        ip = self.pod.pod_ip
        assert ip is not None
        status, _ = await http_get(ip, ADMIN_PORT, "/ready")
        return status == 200

    async def _start_apps_once_the_sidecar_is_ready(self) -> None:
        while not self.stopped and not await self.sidecar_ready():
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=PROBE_INTERVAL)
        if not self.stopped:
            for app in self.apps.values():
                app.start()

    def _poke(self) -> None:
        self._wake.set()

    async def admin_get(self, path: str, *, limit: float = 1.0) -> tuple[int, bytes]:
        """A GET to the sidecar's admin port (``/ready``, ``/metrics``); status 0 when unreachable."""
        ip = self.pod.pod_ip
        assert ip is not None
        return await http_get(ip, ADMIN_PORT, path, limit=limit)

    async def admin_connect(self, *, limit: float = 5.0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the sidecar's admin port for a stream (tap); OSError when unreachable."""
        ip = self.pod.pod_ip
        assert ip is not None
        return await asyncio.wait_for(asyncio.open_connection(ip, ADMIN_PORT), timeout=limit)

    async def check(self) -> bool:
        ip = self.pod.pod_ip
        assert ip is not None
        if not all(p.running for p in self.processes):
            return False
        for port in self.ports:
            if not await port_accepts(ip, port):
                return False
        return await self.sidecar_ready()

    async def _probe(self) -> None:
        await self._start_apps_once_the_sidecar_is_ready()
        while not self.stopped:
            ready = await self.check()
            if ready != self.ready and not self.stopped:
                self.ready = ready
                logger.info("Pod %s/%s is %s", *self.key, "ready" if ready else "not ready")
                self.on_ready(self)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=PROBE_INTERVAL if not ready else 0.5)

    async def stop(self, *, sidecar_grace: float = STOP_GRACE) -> None:
        """The sidecar first (SIGTERM: it drains, up to ``sidecar_grace`` s), then the app containers."""
        self.stopped = True
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        await self.sidecar.stop(grace=sidecar_grace)
        await asyncio.gather(*(p.stop() for p in self.apps.values()))
