"""A test-only node agent: runs admitted Pods as processes, each in its own network namespace.

What a kubelet and a CNI plugin do, as far as the mesh needs it:

* the pod gets a namespace ``<prefix>-<n>`` on a private bridge (``smi.runtime.netns.Fabric``,
  prefix unique per run, everything deleted by ``close()``, also after a failure) with
  ``eth0`` at an address from 198.18.0.0/15; ``status.podIP`` is reported to the emulator;
* the names the injected containers dial (``smi-controller.smi-system.svc``) resolve through
  the namespace's own hosts file to a loopback address *inside* the pod's namespace, where a
  relay (a listening socket made in that namespace) splices each connection to a live
  control-plane replica (kube-proxy's job for the Service);
* the injected init container runs first, as written (``smi proxy-init`` with its
  arguments: the very iptables rules, in the pod's namespace), then the containers;
* the projected ServiceAccount token is a random token written to a file the sidecar
  reads (``SMI_TOKEN_FILE``) and known to the emulator's TokenReview answer, bound to the
  pod's namespace, ServiceAccount and name (``tokens``);
* ``$(VAR)`` references and downward-API env are resolved like the kubelet does;
* the sidecar's readiness (``/ready`` on its admin port, probed from inside the namespace)
  becomes ``status.containerStatuses[].ready``.

Adaptation: the node's Python lives under ``/root``, which uid 1337 cannot read, so the
sidecar runs as root with gid 1337 and the init container gets ``--proxy-gid 1337`` added
(the same rule builder: the gid is exempt from capture as the uid is in a cluster).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smi.runtime import netns
from tests.cluster.controlplane import REPO

SIDECAR_GID = 1337
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_PROXY_VARS = re.compile(r"^(HTTPS?_PROXY|NO_PROXY|ALL_PROXY)$", re.IGNORECASE)


@dataclass
class RunningPod:
    namespace: str
    name: str
    ip: str
    netns: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    init_output: str = ""
    reported: dict[str, Any] = field(default_factory=dict)


class NodeAgent:
    def __init__(self, *, control_plane: Callable[[], tuple[str, int] | None], tokens: dict[str, tuple[str, str, str]],
                 emulator: Any, hosts: Callable[[str], list[str]] = lambda _: [],
                 service_env: Callable[[str], dict[str, str]] = lambda _: {}) -> None:  # fmt: skip
        reason = netns.missing()
        if reason is not None:
            raise netns.NetnsError(reason)
        self.prefix = netns.make_prefix(f"node-agent-{os.getpid()}-{secrets.token_hex(4)}")
        self.fabric = netns.Fabric(self.prefix)
        self.control_plane = control_plane
        self.tokens = tokens
        self.emulator = emulator
        self.hosts = hosts  # Kubernetes namespace -> extra hosts-file lines (the Services' addresses)
        self.service_env = service_env  # Kubernetes namespace -> the Service variables a kubelet sets
        self.pods: list[RunningPod] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._subnet = secrets.randbelow(250) + 2
        self._next = 10
        self.work = Path(tempfile.mkdtemp(prefix="smi-node-agent-"))
        self.work.chmod(0o755)
        self.fabric.create()

    # -- networking ----------------------------------------------------------------------

    async def _relay(self, ns: str, address: tuple[str, int]) -> None:
        self._servers.append(await netns.listen_in(ns, address, self._splice))

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.control_plane()
        if target is None:
            writer.close()
            return
        await netns.splice_to(target, reader, writer)

    # -- pods ------------------------------------------------------------------------------

    def _env(self, container: dict[str, Any], pod: dict[str, Any], ip: str) -> dict[str, str]:
        account = pod["spec"].get("serviceAccountName", "default")
        fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
                  "status.podIP": ip, "spec.serviceAccountName": account}  # fmt: skip
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            ref = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            env[item["name"]] = fields.get(ref, "") if ref else _VAR.sub(lambda m: env.get(m[1], m[0]), item["value"])
        return env

    def _argv(self, container: dict[str, Any], env: dict[str, str]) -> list[str]:
        words = [_VAR.sub(lambda m: env.get(m[1], m[0]), w) for w in [*container.get("command", []),
                                                                        *container.get("args", [])]]  # fmt: skip
        if words and words[0] == "smi":
            return [sys.executable, "-m", "smi.cli.main", *words[1:]]
        if words and words[0] == "python":
            return [sys.executable, *words[1:]]
        return words

    def _mounts(self, pod: dict[str, Any], root: Path) -> dict[str, Path]:
        """Volume name -> local folder; a projected token volume gets a fresh token the emulator knows."""
        meta, spec = pod["metadata"], pod["spec"]
        folders = {}
        for volume in spec.get("volumes") or []:
            folder = root / volume["name"]
            folder.mkdir(parents=True)
            folder.chmod(0o755)
            for source in (volume.get("projected") or {}).get("sources") or []:
                token_spec = source.get("serviceAccountToken")
                if token_spec:
                    token = secrets.token_urlsafe(24)
                    self.tokens[token] = (meta["namespace"], spec.get("serviceAccountName", "default"), meta["name"])
                    path = folder / token_spec["path"]
                    path.write_text(token)
                    path.chmod(0o644)
            folders[volume["name"]] = folder
        return folders

    async def run(self, pod: dict[str, Any]) -> RunningPod:
        meta = pod["metadata"]
        ip = f"198.18.{self._subnet}.{self._next}"
        self._next += 1
        ns = await asyncio.to_thread(self.fabric.add, str(self._next), ip)
        running = RunningPod(namespace=meta["namespace"], name=meta["name"], ip=ip, netns=ns)
        self.pods.append(running)
        plane = self.control_plane()
        assert plane is not None, "no control-plane replica to reach"
        local = "127.0.0.9"
        self.write_hosts(running)
        await self._relay(ns, (local, plane[1]))
        root = self.work / ns
        mounts = self._mounts(pod, root)
        for init in pod["spec"].get("initContainers") or []:
            argv = self._argv(init, self._env(init, pod, ip))
            if init["name"] == "smi-proxy-init":
                argv += ["--proxy-gid", str(SIDECAR_GID)]
            done = await asyncio.to_thread(
                subprocess.run, [*netns.exec_prefix(ns), *argv], capture_output=True, text=True, timeout=60,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
            running.init_output += done.stdout + done.stderr
            assert done.returncode == 0, f"init container {init['name']} failed: {done.stderr}"
        for container in pod["spec"]["containers"]:
            env = self._env(container, pod, ip)
            for mount in container.get("volumeMounts") or []:
                for key, value in list(env.items()):
                    if value.startswith(mount["mountPath"]):
                        env[key] = str(mounts[mount["name"]]) + value[len(mount["mountPath"]) :]
            argv = self._argv(container, env)
            prefix = [*netns.exec_prefix(ns)]
            if container["name"] == "smi-proxy":
                prefix += ["setpriv", f"--regid={SIDECAR_GID}", "--clear-groups"]
            log = root / f"{container['name']}.log"
            base = {k: v for k, v in os.environ.items() if not _PROXY_VARS.match(k) and k != "POD_IP"}
            full_env = {**base, **self.service_env(meta["namespace"]), **env, "PYTHONPATH": str(REPO),
                        "POD_NAME": meta["name"]}  # fmt: skip
            running.processes[container["name"]] = _spawn([*prefix, *argv], log=log, env=full_env)
            running.logs[container["name"]] = log
        await self.emulator("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                            {"status": {"phase": "Running", "podIP": ip}})  # fmt: skip
        return running

    def write_hosts(self, pod: RunningPod) -> None:
        lines = ["127.0.0.1 localhost", "127.0.0.9 smi-controller.smi-system.svc", *self.hosts(pod.namespace)]
        netns.write_hosts(pod.netns, lines)

    def refresh_hosts(self) -> None:
        for pod in self.pods:
            self.write_hosts(pod)

    async def stop(self, pod: RunningPod) -> None:
        """Kill the pod's processes and delete its namespace (the pod object is the caller's)."""
        for process in pod.processes.values():
            if process.poll() is None:
                process.kill()
        for process in pod.processes.values():
            await asyncio.to_thread(process.wait, 20)
        await asyncio.to_thread(self.fabric.remove, pod.netns[len(self.prefix) + 1 :])
        self.pods.remove(pod)

    async def sidecar_ready(self, pod: RunningPod, port: int = 15000) -> bool:
        """GET /ready on the sidecar's admin port, from inside the pod's namespace."""
        try:
            sock = netns.socket_in(pod.netns)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 2)
            reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(b"GET /ready HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), 2)
            writer.close()
        except (OSError, TimeoutError, netns.NetnsError):
            return False
        return b" 200 " in status

    async def report(self, pod: RunningPod) -> bool:
        ready = await self.sidecar_ready(pod)
        statuses = [{"name": n, "ready": p.poll() is None and (ready if n == "smi-proxy" else True)}
                    for n, p in pod.processes.items()]  # fmt: skip
        all_ready = all(s["ready"] for s in statuses)
        condition = {"type": "Ready", "status": "True" if all_ready else "False"}
        status = {"containerStatuses": statuses, "conditions": [condition]}
        if status != pod.reported:  # only changes: every write wakes both controllers' watches
            await self.emulator("PATCH", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}", {"status": status})
            pod.reported = status
        return ready

    def output(self, pod: RunningPod) -> str:
        return pod.init_output + "\n".join(
            f"--- {n}\n{p.read_text(errors='replace')[-3000:]}" for n, p in pod.logs.items()
        )

    def close(self) -> None:
        for server in self._servers:
            server.close()
        for pod in self.pods:
            for process in pod.processes.values():
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=20)
        self.fabric.destroy()
        shutil.rmtree(self.work, ignore_errors=True)


def _spawn(argv: list[str], *, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
