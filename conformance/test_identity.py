"""identity (mTLS): the destination's sidecar knows which ServiceAccount is calling.

Two clients, ``alice`` and ``bob``, each allowed a different route of the same server by
its own TrafficTarget.  Both clients' sidecars route to the server, so every refusal below
is made by the *server's* sidecar, from the identity it verified on the connection (the
mesh's certificates; in the local runtime strict mTLS is the default).
"""

from __future__ import annotations

import pytest

from conformance import manifests as m
from conformance.scenario import Scenario, all_denied, all_served


def target(ns: str, source: str, route: str, *, name: str | None = None) -> m.Obj:
    return m.traffic_target(
        ns,
        name or f"{source}-to-server",
        destination="server",
        sources=[source],
        rules=[m.rule("HTTPRouteGroup", "server-routes", [route])],
    )


@pytest.mark.timeout(300)  # a scenario class: its namespace and pods are set up by its first step
class TestIdentity:
    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, scenario: Scenario) -> Scenario:
        ns = scenario.namespace
        scenario.start(
            *m.server_workload(ns, "server"),
            *m.client_workload(ns, "alice"),
            *m.client_workload(ns, "bob"),
            m.service_account(ns, "carol"),
            m.http_route_group(
                ns,
                "server-routes",
                [
                    {"name": "a", "pathRegex": "/a$", "methods": ["GET"]},
                    {"name": "b", "pathRegex": "/b$", "methods": ["GET"]},
                ],
            ),
            target(ns, "alice", "a"),
            target(ns, "bob", "b"),
        )
        return scenario

    def test_01_each_identity_gets_its_own_route(self, world: Scenario) -> None:
        world.until("alice to be served /a", "alice", "/a", expect=all_served)
        world.until("bob to be served /b", "bob", "/b", expect=all_served)

    def test_02_the_server_side_tells_the_callers_apart(self, world: Scenario) -> None:
        for caller, path in (("alice", "/b"), ("bob", "/a")):
            reply = world.get(caller, path)
            assert reply.status == 403 and reply.denied, (caller, path, reply)
            # the refusal names the verified identity of the caller
            assert f"ns/{world.namespace}/sa/{caller}" in reply.body, reply.body

    def test_03_a_rule_naming_another_account_does_not_let_a_caller_in(self, world: Scenario) -> None:
        ns = world.namespace
        world.apply(target(ns, "carol", "a", name="alice-to-server"))  # same target, now for carol only
        try:
            world.until("alice to be denied /a", "alice", "/a", expect=all_denied)
            assert world.get("bob", "/b").served  # the other target is untouched
            assert world.get("bob", "/a").denied
        finally:
            world.apply(target(ns, "alice", "a"))
        world.until("alice to be served /a again", "alice", "/a", expect=all_served)
