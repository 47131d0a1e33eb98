"""An admitted pod run by the node agent: the injected init container's iptables rules and the
injected sidecar, logged in with its projected token (TokenReview), connected to the control plane."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from smi.runtime import netns
from tests.cluster.conftest import StandIn
from tests.cluster.node_agent import NodeAgent
from tests.cluster.test_high_availability import meshed_namespace
from tests.cluster.test_install_lifecycle import healthy_install, wait_async

pytestmark = pytest.mark.netns


@pytest.fixture
def root_with_netns() -> Iterator[None]:
    reason = netns.missing()
    if reason is not None:
        pytest.skip(reason)
    yield


def web_pod() -> dict[str, object]:
    app = {"name": "web", "image": "smi-mesh:latest", "command": ["python", "-m", "http.server", "8080"]}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"serviceAccountName": "web", "containers": [app]}}  # fmt: skip


async def test_an_admitted_pod_runs_captured_with_its_sidecar_connected(
    root_with_netns: None, standin: StandIn
) -> None:
    await healthy_install(standin, "--drain-grace", "0")
    plane = standin.control_plane
    assert plane is not None

    def live_replica() -> tuple[str, int] | None:
        return next(((r.ip, 15010) for r in plane.replicas if r.alive()), None)

    await meshed_namespace(standin, "shop")
    status, pod = await standin.create("/api/v1/namespaces/shop/pods", web_pod())
    assert status < 300, pod
    red = await standin.run_smi("check", "--proxy", "-n", "shop")
    assert red.code == 1 and "[FAIL] shop/web-1 sidecar has its config" in red.out, red

    agent = NodeAgent(control_plane=live_replica, tokens=standin.tokens, emulator=standin.front.emulator)
    try:
        running = await agent.run(pod)
        rules = await asyncio.to_thread(
            subprocess.run, [*netns.exec_prefix(running.netns), "iptables-save", "-t", "nat"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert "-A SMI_OUTBOUND -m owner --uid-owner 1337 -j RETURN" in rules.stdout
        assert "-A SMI_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15003" in rules.stdout

        async def ready() -> bool:
            return await agent.report(running)

        try:
            await wait_async(ready, within=60, what="the sidecar to log in and get its config")
        except AssertionError:
            raise AssertionError(agent.output(running)) from None
        assert any(ns == "shop" and sa == "web" for ns, sa, _ in standin.tokens.values())
        green = await standin.run_smi("check", "--proxy", "-n", "shop")
        assert green.code == 0, green
        assert "[ok]   shop/web-1 sidecar has its config" in green.out
        # as kubectl: without -n, the kubeconfig context's namespace (default); -A, every namespace
        default = await standin.run_smi("check", "--proxy", "-o", "wide")
        assert default.code == 0 and "meshed pods: none found in default" in default.out, default
        every = await standin.run_smi("check", "--proxy", "-A")
        assert every.code == 0 and "shop/web-1 sidecar has its config" in every.out, every
    finally:
        agent.close()
    assert not [n for n in netns.namespaces() if n.startswith(agent.prefix)]
