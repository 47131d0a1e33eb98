"""traffic-access (access.smi-spec.io TrafficTarget, with HTTPRouteGroup and TCPRoute).

Numbered steps in one fresh namespace, in order (each builds on the one before):
default deny → a TrafficTarget allows exactly its routes → other paths, methods, headers
and callers stay denied → deleting it denies again; then the same for an opaque TCP port
through a TCPRoute.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance import manifests as m
from conformance.scenario import Scenario, all_denied, all_served


def routes(ns: str) -> m.Obj:
    return m.http_route_group(
        ns,
        "server-routes",
        [
            {"name": "allowed", "pathRegex": "/allowed", "methods": ["GET"]},
            {"name": "team-blue", "pathRegex": "/team", "methods": ["GET"], "headers": {"x-team": "blue"}},
        ],
    )


def http_target(ns: str) -> m.Obj:
    return m.traffic_target(
        ns,
        "client-to-server",
        destination="server",
        sources=["client"],
        rules=[m.rule("HTTPRouteGroup", "server-routes", ["allowed", "team-blue"])],
    )


def tcp_objects(ns: str) -> tuple[m.Obj, m.Obj]:
    return (
        m.tcp_route(ns, "echo-port", [m.TCP_PORT]),
        m.traffic_target(
            ns, "client-to-echo", destination="echo", sources=["client"], rules=[m.rule("TCPRoute", "echo-port")]
        ),
    )


def denied_by_mesh(world: Scenario, source: str, path: str, record: Callable[[str, object], None]) -> None:
    """The request is refused by the mesh with a 403; which sidecar refused it goes into the report."""
    reply = world.get(source, path)
    assert reply.denied, f"{source} GET {path} was not denied: {reply}"
    record(f"denial {source} {path}", reply.denial)


@pytest.mark.timeout(300)  # a scenario class: its namespace and pods are set up by its first step
class TestTrafficAccess:
    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, scenario: Scenario) -> Scenario:
        ns = scenario.namespace
        scenario.start(
            *m.server_workload(ns, "server"),
            m.service_account(ns, "echo"),
            m.service(ns, "echo", {"app": "echo"}, tcp=True),
            m.echo(ns, "echo", account="echo", labels={"app": "echo"}),
            *m.client_workload(ns, "client"),
            *m.client_workload(ns, "intruder"),
        )
        return scenario

    def test_01_default_deny(self, world: Scenario, record_property: Callable[[str, object], None]) -> None:
        """With no TrafficTarget, no workload may call another (HTTP or TCP)."""
        for source in ("client", "intruder"):
            denied_by_mesh(world, source, "/allowed", record_property)
        assert world.tcp("client", "echo", "hello") is None

    def test_02_a_traffic_target_allows_its_route(self, world: Scenario) -> None:
        world.apply(routes(world.namespace), http_target(world.namespace))
        replies = world.until("GET /allowed to be served to the client", "client", "/allowed", expect=all_served)
        assert replies[0].server == "server"
        # the route's regex is start-anchored, so a longer path is the same route
        assert world.get("client", "/allowed/more").served

    def test_03_another_path_is_forbidden(self, world: Scenario) -> None:
        reply = world.get("client", "/other")
        assert reply.status == 403 and reply.denied, reply

    def test_04_another_method_is_forbidden(self, world: Scenario) -> None:
        for method in ("POST", "DELETE"):
            reply = world.get("client", "/allowed", method=method)
            assert reply.status == 403 and reply.denied, (method, reply)

    def test_05_a_header_match_allows_and_denies(self, world: Scenario) -> None:
        assert world.get("client", "/team", headers={"x-team": "blue"}).served
        assert world.get("client", "/team", headers={"X-Team": "blue"}).served  # header names are case-insensitive
        for headers in ({"x-team": "red"}, {}):
            reply = world.get("client", "/team", headers=headers)
            assert reply.status == 403 and reply.denied, (headers, reply)

    def test_06_a_source_not_listed_is_denied(
        self, world: Scenario, record_property: Callable[[str, object], None]
    ) -> None:
        assert world.get("client", "/allowed").served  # still allowed for the listed source
        denied_by_mesh(world, "intruder", "/allowed", record_property)

    def test_07_deleting_the_traffic_target_denies_again(self, world: Scenario) -> None:
        world.delete(http_target(world.namespace))
        world.until("the client to be denied once the TrafficTarget is gone", "client", "/allowed", expect=all_denied)

    def test_08_a_tcp_route_allows_its_port(self, world: Scenario) -> None:
        world.apply(*tcp_objects(world.namespace))
        reply = world.tcp_until(
            "the echo to answer the client", "client", "echo", "hello", expect=lambda r: r == "echo hello"
        )
        assert reply == "echo hello"
        assert world.tcp("intruder", "echo", "hello") is None  # not a source

    def test_09_deleting_the_tcp_target_refuses_again(self, world: Scenario) -> None:
        world.delete(tcp_objects(world.namespace)[1])
        world.tcp_until("the echo to refuse the client", "client", "echo", "hello", expect=lambda r: r is None)
