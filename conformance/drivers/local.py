"""``LocalDriver``: the scenarios against ``smi up`` (the local runtime), as run in CI.

It starts ``smi up -f <empty folder>`` as a real subprocess in its own session (process
group), with its own state dir and a loopback address range of its own, and then drives it
through the runtime's control API (the one ``smi apply``/``smi delete``/``smi status`` use).
Requests "from a workload" go to that workload's tool app on its pod address, directly and
not through the mesh; the tool then calls through its own sidecar (``HTTP_PROXY``).

``close`` stops the runtime's process group (SIGTERM, then SIGKILL) and anything else still
carrying its ``SMI_RUNTIME_ID``, so a failing scenario leaves nothing running.
"""

from __future__ import annotations

import itertools
import json
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.drivers import Reply, Workload
from conformance.waiting import wait_until
from smi.runtime import client, statefile
from smi.runtime.launching import UpProcess

TOOL_PORT = 8080
_COUNTER = itertools.count()
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def address_base() -> str:
    """A range of 127/8 for one mesh, apart from the ones the runtime tests use (127.100+)."""
    n = next(_COUNTER)
    return f"127.{20 + (os.getpid() + n) % 70}.{(n * 16) % 256}.0"


def _documents(manifests: str, *, source: str) -> list[dict[str, Any]]:
    return [{"source": source, "raw": raw} for raw in yaml.safe_load_all(manifests) if raw]


class LocalDriver:
    """The local runtime, started in ``work`` (a scratch directory the caller owns)."""

    name = "local"
    timeout = 30.0

    def __init__(self, *, work: Path, extra_args: Sequence[str] = ()) -> None:
        self.work = work
        self.folder = work / "manifests"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.base = address_base()
        self.applied: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._tool_ips: dict[Workload, str] = {}
        args = list(extra_args)
        self.isolation = args[args.index("--isolation") + 1] if "--isolation" in args[:-1] else "loopback"
        self.up = UpProcess(
            folder=self.folder, work=work, address_base=self.base, dashboard="off", extra_args=extra_args
        )
        self.prefix = ""  # netns: the runtime's namespace prefix (``smi.runtime.isolation.run_prefix``)
        self._outside: list[Any] = []
        if self.isolation == "netns":
            from conformance.drivers.netns import run_prefix

            self.prefix = run_prefix(self.up.state_dir)
        self.process = self.up.process
        self.info: statefile.RuntimeInfo | None = None
        try:
            self.info = wait_until(
                "smi up to write its state file",
                self._started,
                timeout=self.timeout,
                seen=lambda: self.output()[-2000:],
            )
        except BaseException:
            self.close()
            raise

    def _started(self) -> statefile.RuntimeInfo | None:
        if self.process.poll() is not None:
            raise AssertionError(f"smi up exited with {self.process.returncode}:\n{self.output()[-2000:]}")
        info = statefile.read(self.up.state_dir)
        if info is None:
            return None
        client.call(info, "GET", "/v1/status", timeout=5)  # the control API answers
        return info

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        assert self.info is not None
        return client.call(self.info, method, path, body)

    def output(self) -> str:
        return self.up.output()

    # -- objects ---------------------------------------------------------------------------------

    def create_namespace(self, namespace: str) -> None:
        self.apply(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n")

    def delete_namespace(self, namespace: str) -> None:
        doomed = [raw for (_, ns, name), raw in self.applied.items() if ns == namespace or name == namespace]
        if not doomed or self.process.poll() is not None:
            return
        try:
            self._call("POST", "/v1/delete", {"documents": [{"source": "teardown", "raw": raw} for raw in doomed]})
        except (client.ApiError, client.NotRunning):
            pass
        for key in [k for k in self.applied if k[1] == namespace or k[2] == namespace]:
            del self.applied[key]
        self._tool_ips = {w: ip for w, ip in self._tool_ips.items() if w.namespace != namespace}

    def apply(self, manifests: str) -> None:
        docs = _documents(manifests, source="conformance")
        try:
            self._call("POST", "/v1/apply", {"documents": docs})
        except client.ApiError as exc:
            raise AssertionError(f"the mesh refused the manifests: {exc.body}") from exc
        for doc in docs:
            raw = doc["raw"]
            meta = raw.get("metadata") or {}
            self.applied[(raw["kind"], meta.get("namespace", ""), meta["name"])] = raw

    def delete(self, manifests: str) -> None:
        docs = _documents(manifests, source="conformance")
        self._call("POST", "/v1/delete", {"documents": docs})
        for doc in docs:
            meta = doc["raw"].get("metadata") or {}
            self.applied.pop((doc["raw"]["kind"], meta.get("namespace", ""), meta["name"]), None)

    def pods(self) -> list[dict[str, Any]]:
        status: dict[str, Any] = self._call("GET", "/v1/status")
        pods: list[dict[str, Any]] = status["pods"]
        return pods

    def wait_ready(self, namespace: str, deployments: Sequence[str]) -> None:
        def ready() -> bool:
            up = {p["deployment"] for p in self.pods() if p["namespace"] == namespace and p["ready"]}
            return set(deployments) <= up

        wait_until(
            f"pods of {', '.join(deployments)} in {namespace} to be ready",
            ready,
            timeout=self.timeout * 2,
            seen=lambda: [(p["name"], p["ready"], p["processes"]) for p in self.pods()],
        )

    # -- traffic ---------------------------------------------------------------------------------

    def _tool_ip(self, source: Workload) -> str:
        if source not in self._tool_ips:
            for pod in self.pods():
                if (pod["namespace"], pod["deployment"]) == (source.namespace, source.deployment) and pod["ready"]:
                    self._tool_ips[source] = pod["ip"]
                    break
            else:
                raise AssertionError(f"no ready pod of {source}")
        return self._tool_ips[source]

    def _ask_tool(self, source: Workload, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        ip = self._tool_ip(source)
        target = f"{path}?{urllib.parse.urlencode(query)}"
        try:
            if self.prefix:  # netns: from inside the pod, as kubectl exec would
                from conformance.drivers.netns import get_json_in
                from smi.runtime.isolation import pod_netns

                return get_json_in(pod_netns(self.prefix, ip), ip, TOOL_PORT, target, timeout=120)
            with _NO_PROXY.open(f"http://{ip}:{TOOL_PORT}{target}", timeout=120) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except OSError:
            self._tool_ips.pop(source, None)  # the pod may have been replaced
            raise
        return answer

    def request(
        self,
        source: Workload,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> list[Reply]:
        query = [("url", url), ("method", method), ("count", str(count))]
        query += [("header", f"{k}: {v}") for k, v in (headers or {}).items()]
        answer = self._ask_tool(source, "/fetch", query)
        return [Reply.from_json(r) for r in answer["results"]]

    def tcp_exchange(self, source: Workload, service: str, payload: str, *, port_name: str = "") -> str | None:
        answer = self._ask_tool(source, "/tcp", [("service", service), ("payload", payload), ("port_name", port_name)])
        reply = answer.get("reply")
        return reply if isinstance(reply, str) else None

    # -- teardown --------------------------------------------------------------------------------

    def udp_exchange(self, source: Workload, service: str, payload: str) -> str | None:
        answer = self._ask_tool(source, "/udp", [("service", service), ("payload", payload)])
        reply = answer.get("reply")
        return reply if isinstance(reply, str) else None

    def tls_exchange(self, source: Workload, address: str, server_name: str) -> dict[str, Any]:
        """A TLS handshake from ``source`` to ``address`` (``ip:port``): the server's line and certificate hash."""
        return self._ask_tool(source, "/tls", [("address", address), ("sni", server_name)])

    # -- netns only: hosts outside the mesh --------------------------------------------------------

    def pod_ip(self, source: Workload) -> str:
        return self._tool_ip(source)

    def outside_host(self, name: str, address: str) -> Any:
        """An ``OutsideHost`` on the mesh's bridge (``--isolation netns`` only), closed with the driver."""
        from conformance.drivers.netns import OutsideHost

        assert self.prefix, "outside hosts need --isolation netns"
        host = OutsideHost(prefix=self.prefix, name=name, address=address)
        self._outside.append(host)
        return host

    def close(self) -> None:
        for host in self._outside:
            host.close()
        self.up.stop(self.info.runtime_id if self.info is not None else None)
