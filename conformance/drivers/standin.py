"""``StandInDriver``: the scenarios against the stand-in cluster (``tests/cluster/``), root only.

The cluster path as a user has it, on one machine: kmock's emulator as the API server with
the real admission webhook called for every pod, ``smi install --dry-run`` output applied,
two real control-plane replicas with a leader, and every pod run by the test-only node
agent in its own network namespace (the injected ``smi proxy-init`` rules, the injected
sidecar logged in with its projected token).  A request "from a workload" goes to that
workload's tool app from inside its pod's namespace (as ``kubectl exec`` would); the tool
calls the service by name (its pod's hosts file), captured by the iptables rules into
its sidecar.

The stand-in is asyncio; it runs on its own event loop in a thread, and each driver call
waits for its result there.  Selected by ``pytest conformance/ --standin`` and by
``tests/cluster/test_conformance.py`` in CI (skipped without root and ``ip netns``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import threading
import urllib.parse
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from conformance.drivers import Reply, Workload
from conformance.drivers.netns import get_json_in
from conformance.waiting import wait_until

T = TypeVar("T")
TOOL_PORT = 8080


class StandInDriver:
    name = "standin"
    timeout = 60.0

    def __init__(self, *, work: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stand-in cluster", daemon=True)
        self._thread.start()
        self.world: Any = importlib.import_module("tests.cluster.world").ClusterWorld(work)
        try:
            self._run(self.world.start(), timeout=240)
        except BaseException:
            self.close()
            raise

    def _run(self, coro: Coroutine[Any, Any, T], *, timeout: float = 180) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise AssertionError(f"the stand-in cluster did not answer within {timeout}s") from None

    def create_namespace(self, namespace: str) -> None:
        from smi.injection import NAMESPACE_LABEL

        meta = {"name": namespace, "labels": {NAMESPACE_LABEL: "smi-mesh"}}
        self.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": meta}))

    def delete_namespace(self, namespace: str) -> None:
        self._run(self.world.delete_namespace(namespace))

    def apply(self, manifests: str) -> None:
        self._run(self.world.apply([d for d in yaml.safe_load_all(manifests) if d]))

    def delete(self, manifests: str) -> None:
        self._run(self.world.delete([d for d in yaml.safe_load_all(manifests) if d]))

    def wait_ready(self, namespace: str, deployments: Sequence[str]) -> None:
        wait_until(
            f"pods of {', '.join(deployments)} in {namespace} to be ready (sidecar with its config, app listening)",
            lambda: self._run(self.world.ready(namespace, list(deployments), {})),
            timeout=self.timeout * 2,
        )

    def _ask_tool(self, source: Workload, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        pods = self.world.running(source.namespace, source.deployment)
        if not pods:
            raise AssertionError(f"no running pod of {source}")
        target = f"{path}?{urllib.parse.urlencode(query)}"
        answer: dict[str, Any] = get_json_in(pods[0].netns, "127.0.0.1", TOOL_PORT, target, timeout=120)
        return answer

    def request(
        self, source: Workload, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> list[Reply]:  # fmt: skip
        query = [("url", url), ("method", method), ("count", str(count))]
        query += [("header", f"{k}: {v}") for k, v in (headers or {}).items()]
        return [Reply.from_json(r) for r in self._ask_tool(source, "/fetch", query)["results"]]

    def tcp_exchange(self, source: Workload, service: str, payload: str, *, port_name: str = "") -> str | None:
        answer = self._ask_tool(source, "/tcp", [("service", service), ("payload", payload), ("port_name", port_name)])
        reply = answer.get("reply")
        return reply if isinstance(reply, str) else None

    def close(self) -> None:
        try:
            if getattr(self, "world", None) is not None:
                self._run(self.world.close(), timeout=120)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
