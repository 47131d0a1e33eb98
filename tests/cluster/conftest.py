"""The stand-in cluster: kmock's emulator as the API server, the admission front, the control plane as processes.

``standin`` gives a ``StandIn``: ``run_smi(*args)`` runs the real CLI as a subprocess with a
kubeconfig pointing at the front; ``install_from_dry_run(*flags)`` renders ``smi install
--dry-run -o json`` and applies exactly that output (with the installer's own applier);
``start_control_plane()`` runs the rendered Deployment's two replicas.  Everything is
stopped at the end of the test, also on failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
import pytest
from kmock._internal import parsing as kmock_parsing

from smi.cluster.resources import KINDS
from tests.cluster.admission import AdmissionFront
from tests.cluster.controlplane import REPO, ControlPlane
from tests.controllers.conftest import Emulator, _parse_path_with_namespaces, _register

LEASE = "/apis/coordination.k8s.io/v1/namespaces/smi-system/leases/smi-controller"
APISERVICE = "/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.metrics.smi-spec.io"
TAP_APISERVICE = "/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.tap.smi-mesh.io"
MONITORING_APISERVICE = "/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.monitoring.smi-mesh.io"


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-4000:]}\n--- stderr\n{self.err[-4000:]}"


class StandIn:
    def __init__(self, emulator: kmock.KubernetesEmulator, front: AdmissionFront, work: Path) -> None:
        self.emulator = emulator
        self.front = front
        self.work = work
        self.kubeconfig = work / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": front.url}}],
            "users": [{"name": "standin", "user": {"token": "stand-in"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin",
                                                         "namespace": "default"}}],
        }))  # fmt: skip
        self.control_plane: ControlPlane | None = None
        self.rendered: list[dict[str, Any]] = []
        self.tokens: dict[str, tuple[str, str, str]] = {}  # projected token -> (namespace, SA, pod), for TokenReview

    async def run_smi(self, *args: str, stdin: str | None = None) -> Ran:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONPATH": str(REPO)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smi.cli.main", *args, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), timeout=120)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        return Ran(process.returncode or 0, out.decode(), err.decode())

    async def install_from_dry_run(self, *flags: str) -> list[dict[str, Any]]:
        from smi.cluster.applying import apply_all
        from smi.cluster.kube import KubeClient

        ran = await self.run_smi("install", "--dry-run", "-o", "json", *flags)
        assert ran.code == 0, ran
        self.rendered = json.loads(ran.out)["items"]
        client = KubeClient.connect(kubeconfig=str(self.kubeconfig))
        try:
            outcomes = await asyncio.to_thread(apply_all, client, self.rendered)
        finally:
            client.close()
        assert {o.action for o in outcomes} == {"created"}
        return self.rendered

    async def start_control_plane(self) -> ControlPlane:
        self.control_plane = ControlPlane(self.front, work=self.work / "control-plane")
        await self.control_plane.start()
        return self.control_plane

    async def get(self, path: str) -> dict[str, Any] | None:
        status, body = await self.front.emulator("GET", path)
        return body if status == 200 else None

    async def lease_holder(self) -> str | None:
        lease = await self.get(LEASE)
        holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
        return holder if isinstance(holder, str) and holder else None

    async def set_metrics_available(self, available: bool, message: str = "") -> None:
        """The aggregation layer's verdict on the metrics, tap and monitoring APIServices (one server serves all)."""
        condition = {"type": "Available", "status": "True" if available else "False",
                     "reason": "Passed" if available else "FailedDiscoveryCheck", "message": message}  # fmt: skip
        for path in (APISERVICE, TAP_APISERVICE, MONITORING_APISERVICE):
            status, body = await self.front.emulator("PATCH", path, {"status": {"conditions": [condition]}})
            assert status == 200, body

    async def create(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Through the front, as a client would (pods go through admission)."""
        assert self.front._session is not None
        async with self.front._session.post(self.front.url + path, json=body) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)


def _register_install_kinds(emulator: kmock.KubernetesEmulator) -> None:
    verbs = {"list", "watch", "get", "create", "patch", "update", "delete"}
    for kind in KINDS.values():
        key = f"{kind.api_version}/{kind.plural}"
        if key not in emulator.resources:
            emulator.resources[key] = kmock.ResourceInfo(kind=kind.kind, namespaced=kind.namespaced, verbs=verbs)


TOKENREVIEWS = kmock.resource("authentication.k8s.io", "v1", "tokenreviews")


def _answer_token_reviews(emulator: kmock.KubernetesEmulator, tokens: dict[str, tuple[str, str, str]]) -> None:
    """TokenReview as the API server answers it for the tokens the node agent projected into pods."""

    def review(request: kmock.Request) -> dict[str, Any]:
        for key in list(emulator.objects):  # a real API server stores no TokenReview
            if key[0] == TOKENREVIEWS:
                del emulator.objects[key]
        spec = request.data["spec"]
        bound = tokens.get(spec.get("token", ""))
        status: dict[str, Any] = {"authenticated": False, "error": "invalid bearer token"}
        if bound is not None and "smi-mesh" in (spec.get("audiences") or ["smi-mesh"]):
            namespace, account, pod = bound
            status = {"authenticated": True, "audiences": spec.get("audiences") or [],
                      "user": {"username": f"system:serviceaccount:{namespace}:{account}",
                               "extra": {"authentication.kubernetes.io/pod-name": [pod]}}}  # fmt: skip
        return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec, "status": status}

    emulator.resources["authentication.k8s.io/v1/tokenreviews"] = kmock.ResourceInfo(
        kind="TokenReview", namespaced=False, verbs={"create"}
    )
    emulator["post", TOKENREVIEWS] << review


@pytest.fixture
async def standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[StandIn]:
    monkeypatch.setattr(kmock_parsing, "parse_path", _parse_path_with_namespaces(kmock_parsing.parse_path))
    async with Emulator() as emulator, kmock.Server(emulator):
        _register(emulator)
        _register_install_kinds(emulator)
        async with AdmissionFront(str(emulator.url)) as front:
            world = StandIn(emulator, front, tmp_path)
            _answer_token_reviews(emulator, world.tokens)
            try:
                yield world
            finally:
                if world.control_plane is not None:
                    world.control_plane.close()
