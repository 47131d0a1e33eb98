"""traffic-split (split.smi-spec.io TrafficSplit, v1alpha4 and v1alpha1).

A root service ``web`` (its own pods: ``web-root``) and two backends ``web-v1``/``web-v2``,
called by a client the TrafficTarget lets in.  Numbered steps in one fresh namespace, in
order: no split → the root's pods; 100/0, 0/100, 50/50; a v1alpha4 split on a header
match; v1alpha1 quantity weights; deleting the split gives the traffic back to the root.

Ratios are checked with bounds that are safe for a random balancer too (more than three
standard deviations of a binomial draw); the proxy's smooth weighted round robin is exact.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance import manifests as m
from conformance.drivers import Reply
from conformance.scenario import Scenario, all_served_by, describe, servers


def split(ns: str, **weights: int | str) -> m.Obj:
    return m.traffic_split(ns, "web-split", root="web", backends={k.replace("_", "-"): w for k, w in weights.items()})


def mixed(*names: str) -> Callable[[list[Reply]], bool]:
    """Every request served, by these servers only, and by each of them at least once."""
    return lambda replies: all(r.served for r in replies) and set(servers(replies)) == set(names)


@pytest.mark.timeout(300)  # a scenario class: its namespace and pods are set up by its first step
class TestTrafficSplit:
    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, scenario: Scenario) -> Scenario:
        ns = scenario.namespace
        scenario.start(
            m.service_account(ns, "web"),
            m.service(ns, "web", {"app": "web", "track": "root"}),
            m.service(ns, "web-v1", {"app": "web", "version": "v1"}),
            m.service(ns, "web-v2", {"app": "web", "version": "v2"}),
            m.server(ns, "web-root", account="web", labels={"app": "web", "track": "root"}),
            m.server(ns, "web-v1", account="web", labels={"app": "web", "version": "v1"}),
            m.server(ns, "web-v2", account="web", labels={"app": "web", "version": "v2"}),
            *m.client_workload(ns, "client"),
            m.http_route_group(ns, "everything", [{"name": "any", "pathRegex": "/.*"}]),
            m.traffic_target(
                ns,
                "client-to-web",
                destination="web",
                sources=["client"],
                rules=[m.rule("HTTPRouteGroup", "everything")],
            ),
        )
        return scenario

    def test_01_without_a_split_the_root_service_answers(self, world: Scenario) -> None:
        world.until("the root's pods to serve the client", "client", expect=all_served_by("web-root"), service="web")

    def test_02_weights_100_0_send_everything_to_v1(self, world: Scenario) -> None:
        world.apply(split(world.namespace, web_v1=100, web_v2=0))
        world.until("v1 to answer every request", "client", expect=all_served_by("web-v1"), service="web", count=10)
        replies = world.batch("client", service="web", count=40)
        assert servers(replies) == {"web-v1": 40}, describe(replies)

    def test_03_weights_0_100_send_everything_to_v2(self, world: Scenario) -> None:
        world.apply(split(world.namespace, web_v1=0, web_v2=100))
        world.until("v2 to answer every request", "client", expect=all_served_by("web-v2"), service="web", count=10)
        replies = world.batch("client", service="web", count=40)
        assert servers(replies) == {"web-v2": 40}, describe(replies)

    def test_04_weights_50_50_send_traffic_to_both(self, world: Scenario) -> None:
        world.apply(split(world.namespace, web_v1=50, web_v2=50))
        world.until("both backends to answer", "client", expect=mixed("web-v1", "web-v2"), service="web", count=10)
        replies = world.batch("client", service="web", count=60)
        counts = servers(replies)
        assert sum(counts.values()) == 60 and set(counts) == {"web-v1", "web-v2"}, describe(replies)
        assert counts["web-v1"] >= 12 and counts["web-v2"] >= 12, counts  # 30 ± 4.6 sd

    def test_05_a_v1alpha4_match_splits_only_matching_requests(self, world: Scenario) -> None:
        ns = world.namespace
        world.delete(split(ns))
        world.apply(
            m.http_route_group(ns, "canary-users", [{"name": "canary", "headers": {"x-canary": "yes"}}]),
            m.traffic_split(ns, "web-canary", root="web", backends={"web-v2": 1}, match_groups=["canary-users"]),
        )
        canary = {"x-canary": "yes"}
        world.until("the canary header to reach v2", "client", expect=all_served_by("web-v2"), service="web",
                    headers=canary, count=10)  # fmt: skip
        matching = world.batch("client", service="web", headers=canary, count=20)
        assert servers(matching) == {"web-v2": 20}, describe(matching)
        others = world.until("other requests to reach the root", "client", expect=all_served_by("web-root"),
                             service="web", count=20)  # fmt: skip
        assert servers(others) == {"web-root": 20}
        near_miss = world.batch("client", service="web", headers={"x-canary": "yes please"}, count=10)
        assert servers(near_miss) == {"web-root": 10}, describe(near_miss)  # header regexes match the whole value

    def test_06_v1alpha1_quantity_weights_keep_their_ratio(self, world: Scenario) -> None:
        ns = world.namespace
        world.delete(m.traffic_split(ns, "web-canary", root="web", backends={}))
        world.apply(
            m.traffic_split(
                ns,
                "web-split",
                root="web",
                backends={"web-v1": "500m", "web-v2": "1500m"},
                api_version="split.smi-spec.io/v1alpha1",
            )
        )
        world.until("the v1alpha1 split to apply", "client", expect=mixed("web-v1", "web-v2"), service="web", count=20)
        replies = world.batch("client", service="web", count=100)
        counts = servers(replies)
        assert sum(counts.values()) == 100 and set(counts) == {"web-v1", "web-v2"}, describe(replies)
        assert 10 <= counts["web-v1"] <= 40 and 60 <= counts["web-v2"] <= 90, counts  # 1:3 = 25/75 ± 3.4 sd

    def test_07_deleting_the_split_returns_traffic_to_the_root(self, world: Scenario) -> None:
        world.delete(split(world.namespace))
        replies = world.until("the root's pods to answer again", "client", expect=all_served_by("web-root"),
                              service="web", count=20)  # fmt: skip
        assert servers(replies) == {"web-root": 20}
