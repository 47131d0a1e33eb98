"""UDP through the mesh (UDPRoute, access.smi-spec.io TrafficTarget rules of kind UDPRoute).

A UDP echo service; a client whose ServiceAccount a TrafficTarget with a UDPRoute rule names
gets its datagrams answered, an intruder's are dropped by the echo's sidecar (no answer: UDP
has no refusal).  Deny by default: before the TrafficTarget nobody is answered.  Runs in both
isolation modes of the local runtime; needs a driver with ``udp_exchange`` (skipped otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance import manifests as m
from conformance.scenario import Scenario
from conformance.waiting import wait_until


def udp_target(ns: str) -> tuple[m.Obj, m.Obj]:
    return (
        m.udp_route(ns, "echo-port", [m.UDP_PORT]),
        m.traffic_target(
            ns, "client-to-udpecho", destination="udpecho", sources=["client"], rules=[m.rule("UDPRoute", "echo-port")]
        ),
    )


class TestUdp:
    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, scenario: Scenario) -> Scenario:
        if not hasattr(scenario.driver, "udp_exchange"):
            pytest.skip("the driver cannot send datagrams from a workload")
        ns = scenario.namespace
        scenario.start(
            m.service_account(ns, "udpecho"),
            m.udp_service(ns, "udpecho", {"app": "udpecho"}),
            m.udp_echo(ns, "udpecho", account="udpecho", labels={"app": "udpecho"}),
            *m.client_workload(ns, "client"),
            *m.client_workload(ns, "intruder"),
        )
        return scenario

    def exchange(self, world: Scenario, source: str) -> Callable[[], str | None]:
        return lambda: world.driver.udp_exchange(world.workload(source), "udpecho", "hello")  # type: ignore[attr-defined]

    def test_01_no_udp_route_no_answer(self, world: Scenario) -> None:
        assert self.exchange(world, "client")() is None

    def test_02_a_udp_route_lets_its_source_in_and_only_it(self, world: Scenario) -> None:
        world.apply(*udp_target(world.namespace))
        reply = wait_until(
            "the echo to answer the client's datagram", self.exchange(world, "client"), timeout=world.driver.timeout
        )
        assert reply == "udpecho hello"
        assert self.exchange(world, "intruder")() is None
