"""``KubeDriver``: the scenarios against a Kubernetes cluster with smi-mesh installed.

Selected by ``pytest conformance/ --kube`` (``conformance/kind/run.sh`` does this after
installing the mesh into a kind cluster).  Everything goes through ``kubectl`` with the
current context:

* a scenario's namespace is created and labelled ``smi-mesh.io/monitored-by=smi-mesh``, so
  the injection webhook gives its pods a sidecar; it is deleted at the end of the scenario;
* a request "from a workload" is ``kubectl exec deploy/<tool> -c app -- python -m
  conformance.apps.tool fetch ...``: the command runs in the tool pod's network namespace,
  so its traffic is captured by the pod's iptables rules and goes through its sidecar, with
  the pod's ServiceAccount identity.  The tool image is the project's Dockerfile image
  (``$SMI_CONFORMANCE_IMAGE``, default ``smi-mesh:latest``), which contains this package.

It cannot run on the development machines (no cluster there); it is kept small and shares
everything else with ``LocalDriver`` (the scenarios, the manifests, the tool).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.drivers import Reply, Workload

MESH_LABEL = "smi-mesh.io/monitored-by=smi-mesh"
TOOL_CONTAINER = "app"


class KubeDriver:
    """kubectl against the current context (or ``context`` if given)."""

    name = "kube"
    timeout = 90.0

    def __init__(self, *, context: str | None = None, kubectl: str = "kubectl") -> None:
        self.base = [kubectl, *(["--context", context] if context else [])]

    def _kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 180) -> str:
        try:
            done = subprocess.run(
                [*self.base, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError as exc:
            raise AssertionError(f"{self.base[0]} is not installed: --kube needs kubectl and a cluster") from exc
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def create_namespace(self, namespace: str) -> None:
        self._kubectl("create", "namespace", namespace)
        self._kubectl("label", "namespace", namespace, MESH_LABEL, "smi-conformance=true", "--overwrite")

    def delete_namespace(self, namespace: str) -> None:
        self._kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false", check=False)

    def apply(self, manifests: str) -> None:
        self._kubectl("apply", "-f", "-", stdin=manifests)

    def delete(self, manifests: str) -> None:
        self._kubectl("delete", "--ignore-not-found", "-f", "-", stdin=manifests)

    def wait_ready(self, namespace: str, deployments: Sequence[str]) -> None:
        for deployment in deployments:
            self._kubectl(
                "-n", namespace, "rollout", "status", f"deployment/{deployment}", f"--timeout={self.timeout * 2:.0f}s"
            )

    def _exec_tool(self, source: Workload, *args: str) -> dict[str, Any]:
        out = self._kubectl(
            "-n", source.namespace, "exec", f"deploy/{source.deployment}", "-c", TOOL_CONTAINER, "--",
            "python", "-m", "conformance.apps.tool", *args,
        )  # fmt: skip
        answer: dict[str, Any] = json.loads(out)
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
        args = ["fetch", url, "--method", method, "--count", str(count)]
        for name, value in (headers or {}).items():
            args += ["--header", f"{name}: {value}"]
        return [Reply.from_json(r) for r in self._exec_tool(source, *args)["results"]]

    def tcp_exchange(self, source: Workload, service: str, payload: str, *, port_name: str = "") -> str | None:
        args = ["tcp", service, "--payload", payload]
        if port_name:
            args += ["--port-name", port_name]
        reply = self._exec_tool(source, *args).get("reply")
        return reply if isinstance(reply, str) else None

    def close(self) -> None:
        return
