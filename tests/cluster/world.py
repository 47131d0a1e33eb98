"""The whole stand-in cluster in one object, for the conformance driver (``conformance/drivers/standin.py``).

``ClusterWorld.start()``: the emulator behind the admission front, ``smi install --dry-run``
output applied, the two control-plane replicas running, a leader elected, and a node agent.
Then it acts as the cluster's controllers would for what the scenarios apply:

* a Service without ``clusterIP`` gets one from 198.19.<run>.0/24 (the service network), and
  every pod's hosts file names it (``svc`` in its own namespace, ``svc.ns``, ``svc.ns.svc``,
  ``svc.ns.svc.cluster.local``);
* a Deployment's pods (``replicas`` of them) are created from its template *through the
  front* (so the injection webhook adds the sidecar) and run by the node agent;
* everything else is created, or merge-patched when it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from pathlib import Path
from typing import Any

import kmock
from kmock._internal import parsing as kmock_parsing

from smi.runtime import netns
from tests.cluster.admission import AdmissionFront
from tests.cluster.conftest import StandIn, _answer_token_reviews, _register_install_kinds
from tests.cluster.node_agent import NodeAgent, RunningPod
from tests.controllers.conftest import Emulator, _parse_path_with_namespaces, _register

PLURALS = {"ServiceAccount": "serviceaccounts", "Service": "services", "Deployment": "deployments",
           "TrafficSplit": "trafficsplits", "TrafficTarget": "traffictargets", "HTTPRouteGroup": "httproutegroups",
           "TCPRoute": "tcproutes", "UDPRoute": "udproutes", "Namespace": "namespaces"}  # fmt: skip


def collection(obj: dict[str, Any]) -> str:
    api = obj["apiVersion"]
    base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
    plural = PLURALS[obj["kind"]]
    if obj["kind"] == "Namespace":
        return f"{base}/{plural}"
    return f"{base}/namespaces/{obj['metadata']['namespace']}/{plural}"


class ClusterWorld:
    def __init__(self, work: Path) -> None:
        self.work = work
        self._stack = contextlib.AsyncExitStack()
        self.standin: StandIn | None = None
        self.agent: NodeAgent | None = None
        self._original_parse = kmock_parsing.parse_path
        self._vip_net = secrets.randbelow(200) + 20
        self._next_vip = 10
        self.vips: dict[tuple[str, str], str] = {}
        self.service_ports: dict[tuple[str, str], tuple[str, list[dict[str, Any]]]] = {}
        self.pods: dict[tuple[str, str], list[tuple[dict[str, Any], RunningPod]]] = {}  # (ns, deployment) -> pods
        self.applied: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}  # namespace -> (kind, name) -> object

    async def start(self) -> None:
        kmock_parsing.parse_path = _parse_path_with_namespaces(self._original_parse)
        emulator = await self._stack.enter_async_context(Emulator())
        await self._stack.enter_async_context(kmock.Server(emulator))
        _register(emulator)
        _register_install_kinds(emulator)
        front = await self._stack.enter_async_context(AdmissionFront(str(emulator.url)))
        self.standin = standin = StandIn(emulator, front, self.work)
        _answer_token_reviews(emulator, standin.tokens)
        await standin.install_from_dry_run("--lease-duration", "3", "--drain-grace", "0")
        plane = await standin.start_control_plane()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while await standin.lease_holder() is None:
            assert loop.time() < deadline, "no controller took the Lease"
            await asyncio.sleep(0.1)
        await standin.set_metrics_available(True)

        def live() -> tuple[str, int] | None:
            return next(((r.ip, 15010) for r in plane.replicas if r.alive()), None)

        self.agent = NodeAgent(control_plane=live, tokens=standin.tokens, emulator=front.emulator, hosts=self.hosts,
                               service_env=self.service_env)  # fmt: skip

    def hosts(self, namespace: str) -> list[str]:
        lines = []
        for (ns, name), vip in sorted(self.vips.items()):
            names = [f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"]
            lines.append(" ".join([vip, *names, *([name] if ns == namespace else [])]))
        return lines

    def service_env(self, namespace: str) -> dict[str, str]:
        """The kubelet's Service variables for a new pod: ``<SVC>_SERVICE_HOST`` and ``_PORT[_<NAME>]``."""
        from smi.runtime.environment import env_name

        env: dict[str, str] = {}
        for (ns, name), (vip, ports) in sorted(self.service_ports.items()):
            if ns != namespace or not ports:
                continue
            prefix = env_name(name)
            env[f"{prefix}_SERVICE_HOST"] = vip
            env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
            for port in ports:
                if port.get("name"):
                    env[f"{prefix}_SERVICE_PORT_{env_name(port['name'])}"] = str(port["port"])
        return env

    async def _put(self, obj: dict[str, Any]) -> None:
        assert self.standin is not None
        name = obj["metadata"]["name"]
        path = f"{collection(obj)}/{name}"
        if await self.standin.get(path) is None:
            status, body = await self.standin.create(collection(obj), obj)
        else:
            status, body = await self.standin.front.emulator("PATCH", path, obj)
        assert status < 300, f"{obj['kind']} {name}: {body}"

    async def apply(self, docs: list[dict[str, Any]]) -> None:
        for obj in docs:
            meta = obj.setdefault("metadata", {})
            if obj["kind"] == "Service":
                key = (meta["namespace"], meta["name"])
                if key not in self.vips:
                    self.vips[key] = f"198.19.{self._vip_net}.{self._next_vip}"
                    self._next_vip += 1
                obj.setdefault("spec", {})["clusterIP"] = self.vips[key]
                self.service_ports[key] = (self.vips[key], list(obj["spec"].get("ports") or []))
            await self._put(obj)
            ns = meta.get("namespace") or meta["name"]
            self.applied.setdefault(ns, {})[(obj["kind"], meta["name"])] = obj
            if obj["kind"] == "Service":
                assert self.agent is not None
                self.agent.refresh_hosts()
            if obj["kind"] == "Deployment":
                await self._rollout(obj)

    async def _rollout(self, deployment: dict[str, Any]) -> None:
        assert self.standin is not None and self.agent is not None
        meta = deployment["metadata"]
        key = (meta["namespace"], meta["name"])
        await self._stop_pods(key)
        template = deployment["spec"]["template"]
        for _ in range(int(deployment["spec"].get("replicas", 1))):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {**template.get("metadata", {}), "namespace": meta["namespace"],
                                "name": f"{meta['name']}-{secrets.token_hex(3)}"},
                   "spec": template["spec"]}  # fmt: skip
            status, admitted = await self.standin.create(f"/api/v1/namespaces/{meta['namespace']}/pods", pod)
            assert status < 300, f"pod of {meta['name']}: {admitted}"
            running = await self.agent.run(admitted)
            self.pods.setdefault(key, []).append((admitted, running))

    async def _stop_pods(self, key: tuple[str, str]) -> None:
        assert self.standin is not None and self.agent is not None
        for pod, running in self.pods.pop(key, []):
            await self.agent.stop(running)
            meta = pod["metadata"]
            await self.standin.front.emulator("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}")

    async def delete(self, docs: list[dict[str, Any]]) -> None:
        assert self.standin is not None
        for obj in reversed(docs):
            meta = obj.get("metadata") or {}
            if obj["kind"] == "Deployment":
                await self._stop_pods((meta["namespace"], meta["name"]))
            if obj["kind"] == "Service":
                self.vips.pop((meta["namespace"], meta["name"]), None)
                self.service_ports.pop((meta["namespace"], meta["name"]), None)
            await self.standin.front.emulator("DELETE", f"{collection(obj)}/{meta['name']}")
            self.applied.get(meta.get("namespace") or meta["name"], {}).pop((obj["kind"], meta["name"]), None)

    async def delete_namespace(self, namespace: str) -> None:
        assert self.standin is not None
        for key in [k for k in self.pods if k[0] == namespace]:
            await self._stop_pods(key)
        for key in [k for k in self.vips if k[0] == namespace]:
            del self.vips[key]
            self.service_ports.pop(key, None)
        # what a namespace deletion does: everything in it goes, so the controllers stop compiling it
        objects = list(self.applied.pop(namespace, {}).values())
        namespaced = [o for o in objects if o["kind"] != "Namespace"]
        for obj in [*namespaced, *(o for o in objects if o["kind"] == "Namespace")]:
            await self.standin.front.emulator("DELETE", f"{collection(obj)}/{obj['metadata']['name']}")

    def running(self, namespace: str, deployment: str) -> list[RunningPod]:
        return [r for _, r in self.pods.get((namespace, deployment), [])]

    async def ready(self, namespace: str, deployments: list[str], ports: dict[str, int]) -> bool:
        assert self.agent is not None
        for name in deployments:
            pods = self.running(namespace, name)
            if not pods:
                return False
            for admitted, pod in self.pods.get((namespace, name), []):
                declared = (admitted["spec"]["containers"][0].get("ports") or [{}])[0].get("containerPort", 8080)
                if not await self.agent.report(pod) or not await _listening(pod, ports.get(name, declared)):
                    return False
        return True

    async def close(self) -> None:
        try:
            if self.agent is not None:
                self.agent.close()
            if self.standin is not None and self.standin.control_plane is not None:
                self.standin.control_plane.close()
            await self._stack.aclose()
        finally:
            kmock_parsing.parse_path = self._original_parse


async def _listening(pod: RunningPod, port: int) -> bool:
    try:
        sock = netns.socket_in(pod.netns)
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 2)
        sock.close()
    except (OSError, TimeoutError, netns.NetnsError):
        return False
    return True


__all__ = ["ClusterWorld", "socket"]
