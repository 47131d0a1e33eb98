"""traffic-specs (specs.smi-spec.io HTTPRouteGroup): how a match reads a request.

One HTTPRouteGroup, allowed as a whole (a rule without ``matches`` covers every match) by a
TrafficTarget; each step checks which requests its matches let through: ``pathRegex`` is
anchored at the start only, ``methods: ["*"]`` is every method, header regexes must match the
whole value, and the query string is not part of the path.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import manifests as m
from conformance.scenario import Scenario, all_served

MATCHES: list[dict[str, Any]] = [
    {"name": "api", "pathRegex": "/api", "methods": ["GET"]},
    {"name": "exact", "pathRegex": "/exact/[0-9]+$", "methods": ["*"]},
    {"name": "android", "pathRegex": "/ua", "methods": ["GET"], "headers": {"user-agent": ".*Android.*"}},
    {"name": "team", "pathRegex": "/team$", "headers": {"x-team": "blue"}},
    {"name": "query", "pathRegex": "/q$", "methods": ["GET"]},
]


def allowed(world: Scenario, path: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> bool:
    reply = world.get("client", path, method=method, headers=headers)
    if reply.served:
        return True
    assert reply.status == 403 and reply.denied, f"{method} {path} {headers or ''}: neither served nor 403: {reply}"
    return False


@pytest.mark.timeout(300)  # a scenario class: its namespace and pods are set up by its first step
class TestTrafficSpecs:
    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, scenario: Scenario) -> Scenario:
        ns = scenario.namespace
        scenario.start(
            *m.server_workload(ns, "server"),
            *m.client_workload(ns, "client"),
            m.http_route_group(ns, "specs", MATCHES),
            m.traffic_target(
                ns,
                "client-to-server",
                destination="server",
                sources=["client"],
                rules=[m.rule("HTTPRouteGroup", "specs")],
            ),
        )
        scenario.until("the route group to apply", "client", "/api", expect=all_served)
        return scenario

    def test_01_path_regex_is_anchored_at_the_start(self, world: Scenario) -> None:
        assert allowed(world, "/api")
        assert allowed(world, "/api/v1")  # not anchored at the end: a prefix is enough
        assert allowed(world, "/api/v1/books")
        assert not allowed(world, "/v2/api")  # but anchored at the start
        assert not allowed(world, "/API")

    def test_02_a_dollar_makes_the_regex_need_the_whole_path(self, world: Scenario) -> None:
        assert allowed(world, "/exact/42")
        assert not allowed(world, "/exact/42/more")
        assert not allowed(world, "/exact/abc")

    def test_03_methods_star_allows_every_method_and_a_list_only_its_own(self, world: Scenario) -> None:
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            assert allowed(world, "/exact/7", method=method), method
        for method in ("POST", "DELETE"):
            assert not allowed(world, "/api/v1", method=method), method
        assert allowed(world, "/team", method="DELETE", headers={"x-team": "blue"})  # methods omitted: any

    def test_04_header_regexes_match_the_whole_value(self, world: Scenario) -> None:
        assert allowed(world, "/ua", headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8)"})
        assert not allowed(world, "/ua", headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"})
        assert allowed(world, "/team", headers={"x-team": "blue"})
        assert not allowed(world, "/team", headers={"x-team": "blue-green"})  # not a prefix match
        assert not allowed(world, "/team", headers={"x-team": "dark-blue"})  # nor a search
        assert not allowed(world, "/team")  # a missing header does not match

    def test_05_the_query_string_is_not_part_of_the_path(self, world: Scenario) -> None:
        assert allowed(world, "/q")
        assert allowed(world, "/q?page=2&sort=asc")
        assert allowed(world, "/exact/42?x=1")
        assert not allowed(world, "/q/more?x=1")
