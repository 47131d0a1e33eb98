"""The stand-in kubelet for the control plane: runs the rendered Deployment's pods as processes.

For each replica it materialises the Deployment's Secret volumes (from the Secrets stored
in the emulator) into a temporary directory, rewrites each container's mount paths to
it, gives the replica its own loopback address (its "pod IP", in 127/8 with a per-run
random prefix), points ``smi controller`` at the emulator (``--server``, where a pod would
use its in-cluster ServiceAccount) and starts every container as a real process (``smi
controller`` and ``smi webhook``) in its own session.  The webhook is added to the
front's endpoints once its ``/healthz`` answers over TLS, and removed before a replica
is stopped or killed (as the endpoints controller does for a terminating pod).  The
Deployment's ``status.readyReplicas`` is kept up to date.  ``close()`` kills everything.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cluster.admission import AdmissionFront
from tests.distribution.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]


def _write_files(target: Path, files: dict[str, bytes]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(data)


def _spawn(argv: list[str], *, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


@dataclass
class Replica:
    index: int
    ip: str
    name: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    webhook: tuple[str, int] | None = None

    def alive(self) -> bool:
        return bool(self.processes) and all(p.poll() is None for p in self.processes.values())


class ControlPlane:
    def __init__(self, front: AdmissionFront, *, work: Path, namespace: str = "smi-system",
                 extra_controller_args: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.front = front
        self.work = work
        self.namespace = namespace
        self.extra = extra_controller_args
        self.replicas: list[Replica] = []
        self._prefix = f"127.{random.randint(130, 250)}.{random.randint(1, 250)}"
        self.deployment: dict[str, Any] = {}

    async def _secret_files(self, name: str, items: list[dict[str, str]] | None, target: Path) -> None:
        status, secret = await self.front.emulator("GET", f"/api/v1/namespaces/{self.namespace}/secrets/{name}")
        assert status == 200, f"Secret {self.namespace}/{name} is missing: {secret}"
        data = secret.get("data") or {}
        files = {i["path"]: base64.b64decode(data[i["key"]]) for i in items or [{"key": k, "path": k} for k in data]}
        _write_files(target, files)

    def _args(self, container: dict[str, Any], mounts: dict[str, Path], replica: Replica) -> list[str]:
        args = []
        for arg in container.get("args") or []:
            for mount_path, local in mounts.items():
                if arg == mount_path or arg.startswith(mount_path + "/"):
                    arg = str(local) + arg[len(mount_path) :]
            if arg.startswith("0.0.0.0:"):
                arg = replica.ip + arg[len("0.0.0.0") :]
            args.append(arg)
        if args and args[0] == "controller":
            args += ["--server", self.front.emulator_url, "--lease-identity", replica.name, *self.extra]
        return args

    async def start(self) -> None:
        status, self.deployment = await self.front.emulator(
            "GET", f"/apis/apps/v1/namespaces/{self.namespace}/deployments/smi-controller"
        )
        assert status == 200, self.deployment
        for index in range(int(self.deployment["spec"]["replicas"])):
            await self.start_replica(index)
        await self._report_ready()

    async def start_replica(self, index: int) -> Replica:
        spec = self.deployment["spec"]["template"]["spec"]
        replica = Replica(index=index, ip=f"{self._prefix}.{10 + index}", name=f"smi-controller-{index}-{os.getpid()}")
        root = self.work / f"replica-{index}"
        volumes: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            secret = volume.get("secret")
            if secret is not None:
                volumes[volume["name"]] = root / volume["name"]
                await self._secret_files(secret["secretName"], secret.get("items"), volumes[volume["name"]])
        for container in spec["containers"]:
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts") or []}
            argv = [sys.executable, "-m", "smi.cli.main", *self._args(container, mounts, replica)]
            log = root / f"{container['name']}.log"
            env = {**os.environ, "POD_NAME": replica.name, "PYTHONPATH": str(REPO)}
            replica.processes[container["name"]] = _spawn(argv, log=log, env=env)
            replica.logs[container["name"]] = log
        self.replicas.append(replica)
        webhook = next(c for c in spec["containers"] if c["name"] == "webhook")
        port = next(p["containerPort"] for p in webhook["ports"] if p["name"] == "webhook")
        await self._wait_serving(replica, port)
        replica.webhook = (replica.ip, port)
        self.front.endpoints.setdefault((self.namespace, "smi-controller"), []).append(replica.webhook)
        return replica

    async def _wait_serving(self, replica: Replica, port: int) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # readiness only, as a kubelet probe

        async def probe() -> bool:
            try:
                _, writer = await asyncio.open_connection(replica.ip, port, ssl=context)
            except OSError:
                return False
            writer.close()
            return True

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await probe():
            if not replica.alive():
                raise AssertionError(f"replica {replica.index} exited:\n{self.output(replica)}")
            if loop.time() > deadline:
                raise AssertionError(f"replica {replica.index}'s webhook never listened:\n{self.output(replica)}")
            await asyncio.sleep(0.05)

    def output(self, replica: Replica) -> str:
        return "\n".join(
            f"--- {name}\n{path.read_text(errors='replace')[-3000:]}" for name, path in replica.logs.items()
        )

    async def _report_ready(self) -> None:
        ready = sum(r.alive() for r in self.replicas)
        await self.front.emulator(
            "PATCH", f"/apis/apps/v1/namespaces/{self.namespace}/deployments/smi-controller",
            {"status": {"replicas": len(self.replicas), "readyReplicas": ready}},
        )  # fmt: skip

    async def kill(self, replica: Replica, *, sig: int = signal.SIGKILL) -> None:
        """Take the replica out of the Service, then signal its processes (SIGKILL: no clean-up at all)."""
        if replica.webhook is not None:
            self.front.endpoints[(self.namespace, "smi-controller")].remove(replica.webhook)
            replica.webhook = None
        for process in replica.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, sig)
        await wait_until(lambda: all(p.poll() is not None for p in replica.processes.values()), within=20,
                         what=f"replica {replica.index} to exit")  # fmt: skip
        await self._report_ready()

    async def stop_webhooks(self) -> None:
        for replica in self.replicas:
            process = replica.processes.get("webhook")
            if replica.webhook is not None:
                self.front.endpoints[(self.namespace, "smi-controller")].remove(replica.webhook)
                replica.webhook = None
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)

    def close(self) -> None:
        for replica in self.replicas:
            for process in replica.processes.values():
                if process.poll() is None:
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    process.wait(timeout=20)
