"""Transparent capture (``smi up --isolation netns``; in a cluster, proxy-init's iptables rules).

* nothing reaches an app except through its sidecar: a plain call from a host outside the
  mesh to a pod's app port is taken by the pod's sidecar, which refuses it (mTLS only);
* apps call services by name with no proxy settings (every other scenario relies on it);
* egress to a host outside the mesh follows the mesh-wide egress policy: the mesh under test
  denies egress except to ``EGRESS_ALLOWED_HOST``;
* TLS from an app to a host outside the mesh passes through untouched: the app sees the
  outside host's own certificate (nothing in between terminated it);
* opaque TCP to a mesh service goes through the capture as mTLS: ``TestTrafficAccess``'s TCP
  steps, which in netns mode reach the service by its virtual IP (``$<SVC>_SERVICE_HOST``).

Needs a driver with outside hosts (``LocalDriver`` with ``--isolation netns``); skipped otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance import manifests as m
from conformance.drivers import MeshDriver
from conformance.plugin import EGRESS_ALLOWED_HOST, EGRESS_DENIED_HOST
from conformance.scenario import Scenario


class TestCapture:
    @pytest.fixture(scope="class")
    @classmethod
    def outside(cls, mesh: MeshDriver) -> Iterator[tuple[Any, Any]]:
        """Two hosts outside the mesh: egress to the first is allowed, to the second denied."""
        if getattr(mesh, "isolation", "") != "netns":
            pytest.skip("needs hosts outside the mesh: the local runtime with --isolation netns")
        allowed = mesh.outside_host("allowed", EGRESS_ALLOWED_HOST)  # type: ignore[attr-defined]
        denied = mesh.outside_host("denied", EGRESS_DENIED_HOST)  # type: ignore[attr-defined]
        yield allowed, denied

    def test_nothing_reaches_an_app_but_through_its_sidecar(self, scenario: Scenario, outside: tuple[Any, Any]) -> None:
        scenario.start(*m.client_workload(scenario.namespace, "client"))
        _, stranger = outside
        ip = scenario.driver.pod_ip(scenario.workload("client"))  # type: ignore[attr-defined]
        status, why = stranger.call(ip, 8080, "/fetch?url=http://x/")
        assert status == 0, f"a call that skips the sidecar got an answer: {status} {why[:200]}"

    def test_egress_to_a_host_outside_the_mesh_follows_the_egress_policy(
        self, scenario: Scenario, outside: tuple[Any, Any]
    ) -> None:
        scenario.start(*m.client_workload(scenario.namespace, "client"))
        client = scenario.workload("client")
        reply = scenario.driver.request(client, f"http://{EGRESS_ALLOWED_HOST}:8080/out")[0]
        assert reply.status == 200 and reply.server == "outside-allowed", reply.denial
        reply = scenario.driver.request(client, f"http://{EGRESS_DENIED_HOST}:8080/out")[0]
        assert reply.status == 0, f"egress the policy denies was answered: {reply.denial}"

    def test_tls_to_a_host_outside_the_mesh_passes_through_untouched(
        self, scenario: Scenario, outside: tuple[Any, Any]
    ) -> None:
        scenario.start(*m.client_workload(scenario.namespace, "client"))
        allowed, _ = outside
        client = scenario.workload("client")
        answer = scenario.driver.tls_exchange(client, f"{EGRESS_ALLOWED_HOST}:8443", "api.outside.example")  # type: ignore[attr-defined]
        assert answer["certificate_sha256"] == allowed.certificate_sha256, answer  # the host's own certificate
        assert answer["reply"] == '{"server": "outside-allowed", "sni": "api.outside.example"}'
        answer = scenario.driver.tls_exchange(client, f"{EGRESS_DENIED_HOST}:8443", "api.outside.example")  # type: ignore[attr-defined]
        assert answer["reply"] is None and answer["certificate_sha256"] is None, answer
