"""End to end through kopf: objects applied to the (emulated) API server change what proxies receive."""

from __future__ import annotations

from typing import Any

from tests.controllers.conftest import Mesh
from tests.controllers.objects import (
    EVENTS,
    ROUTES,
    SPLITS,
    TARGETS,
    install_app,
    routes,
    split,
    target,
)
from tests.distribution.helpers import StreamClient
from tests.waiting import wait_for_value


def services(message: dict[str, Any]) -> list[str]:
    return [s["name"] for s in message["config"]["outbound"]["services"]]


def split_weights(message: dict[str, Any]) -> dict[str, int] | None:
    """Weights of the api service's first split, by backend service; None without a split."""
    for svc in message["config"]["outbound"]["services"]:
        if svc["name"] == "api":
            for port in svc["ports"]:
                if port["splits"]:
                    return {b["service"] or b["cluster"]: b["weight"] for b in port["splits"][0]["backends"]}
    return None


async def test_smi_objects_drive_the_streamed_config(mesh: Mesh) -> None:
    await install_app(mesh)
    await mesh.start_operator()
    async with StreamClient(mesh.service.url, namespace="default", pod="web-1") as web:
        first = await web.wait_config(lambda m: True, what="web-1's first config")
        assert services(first) == []  # deny by default: no TrafficTarget yet

        await mesh.create(ROUTES, routes())
        await mesh.create(TARGETS, target())
        allowed = await web.wait_config(lambda m: "api" in services(m), what="api to become reachable")
        assert split_weights(allowed) is None

        await mesh.create(SPLITS, split("api-split", weights={"api-v1": 9, "api-v2": 1}))
        with_split = await web.wait_config(lambda m: split_weights(m) is not None, what="the split")
        assert split_weights(with_split) == {"api-v1": 9, "api-v2": 1}

        await mesh.patch(
            f"{SPLITS}/api-split",
            {
                "metadata": {"generation": 2},
                "spec": {"backends": [{"service": "api-v1", "weight": 0}, {"service": "api-v2", "weight": 1}]},
            },
        )
        shifted = await web.wait_config(
            lambda m: split_weights(m) == {"api-v1": 0, "api-v2": 1}, what="the shifted weights"
        )
        await mesh.delete(f"{SPLITS}/api-split")
        gone = await web.wait_config(
            lambda m: m["version"] > shifted["version"] and split_weights(m) is None, what="the split to go"
        )
        assert "api" in services(gone)

        await mesh.delete(f"{TARGETS}/web-to-api")
        await web.wait_config(lambda m: m["version"] > gone["version"] and services(m) == [], what="deny again")

        versions = [m["version"] for m in web.configs]
        assert versions == sorted(set(versions))  # one message per distinct config, versions grow


async def test_statuses_are_written_with_conditions_and_observed_generation(mesh: Mesh) -> None:
    await install_app(mesh)
    await mesh.create(SPLITS, split("api-split", weights={"api-v1": 1, "missing": 1}, generation=3))
    await mesh.start_operator()

    async def status() -> dict[str, Any]:
        obj = await mesh.get(f"{SPLITS}/api-split")
        return dict(obj.get("status") or {})

    got = await wait_for_value(status, lambda s: bool(s.get("conditions")), what="the split's status")
    conditions = {c["type"]: c for c in got["conditions"]}
    assert got["observedGeneration"] == 3
    assert conditions["Valid"]["status"] == "True"
    assert conditions["Accepted"]["observedGeneration"] == 3
    assert conditions["Accepted"]["reason"] == "BackendNotFound"
    assert "missing" in conditions["Accepted"]["message"]

    # fix it: the status follows, with the new generation
    await mesh.patch(
        f"{SPLITS}/api-split",
        {
            "metadata": {"generation": 4},
            "spec": {"backends": [{"service": "api-v1", "weight": 1}, {"service": "api-v2", "weight": 1}]},
        },
    )
    await wait_for_value(status, lambda s: s.get("observedGeneration") == 4, what="observedGeneration 4")
    conditions = {c["type"]: c for c in (await status())["conditions"]}
    assert conditions["Accepted"]["status"] == "True" and conditions["Accepted"]["reason"] == "Accepted"


async def test_an_invalid_object_is_reported_and_skipped_while_the_rest_works(mesh: Mesh) -> None:
    await install_app(mesh)
    await mesh.create(ROUTES, routes())
    await mesh.create(TARGETS, target())
    await mesh.start_operator()
    async with StreamClient(mesh.service.url, namespace="default", pod="web-1") as web:
        await mesh.create(SPLITS, split("api-split", weights={"api-v1": 3, "api-v2": 1}))
        good = await web.wait_config(lambda m: split_weights(m) is not None, what="the valid split")
        assert split_weights(good) == {"api-v1": 3, "api-v2": 1}

        # a bad update: the previous good version stays in effect
        await mesh.patch(
            f"{SPLITS}/api-split",
            {
                "metadata": {"generation": 2},
                "spec": {"backends": [{"service": "api-v1", "weight": -5}, {"service": "api-v2", "weight": 50}]},
            },
        )
        # a second, independent invalid object next to it (the controller watches the
        # storage version only; the API server converts objects written in older versions)
        bad = split("other", weights={"api-v1": 1})
        bad["spec"]["backends"][0]["weight"] = "heavy"
        await mesh.create(SPLITS, bad)

        async def valid_condition() -> dict[str, Any]:
            obj = await mesh.get(f"{SPLITS}/api-split")
            return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}

        await wait_for_value(valid_condition, lambda c: c.get("Valid", {}).get("status") == "False", what="Valid=False")
        conditions = await valid_condition()
        assert "spec.backends[0].weight" in conditions["Valid"]["message"]
        assert conditions["Valid"]["observedGeneration"] == 2
        assert "previous valid version stays in effect" in conditions["Accepted"]["message"]

        async def warning_events() -> list[dict[str, Any]]:
            data = await mesh.get(EVENTS)
            return [e for e in data["items"] if e.get("type") == "Warning"]

        await wait_for_value(warning_events, lambda evs: len(evs) >= 2, what="two Warning events")
        events = await warning_events()
        about = {e["involvedObject"]["name"]: e for e in events}
        assert about["api-split"]["reason"] == "InvalidObject"
        assert "spec.backends[0].weight" in about["api-split"]["message"]
        assert "other" in about

        # the rest still works: a new valid object is compiled (it conflicts with the good
        # split, first by name on the same root, and says so in its status) ...
        await mesh.create(SPLITS, split("api-split-2", weights={"api-v2": 1}))

        async def accepted_of_second() -> dict[str, Any]:
            obj = await mesh.get(f"{SPLITS}/api-split-2")
            conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}
            return dict(conditions.get("Accepted") or {})

        accepted = await wait_for_value(
            accepted_of_second, lambda c: c.get("reason") == "Conflict", what="api-split-2's Conflict status"
        )
        assert accepted["status"] == "False" and "api-split" in accepted["message"]
        # a valid object that is not in effect gets a Warning Event too, saying why
        events = await wait_for_value(
            warning_events,
            lambda evs: any(e["involvedObject"]["name"] == "api-split-2" for e in evs),
            what="the Event about api-split-2",
        )
        (event,) = [e for e in events if e["involvedObject"]["name"] == "api-split-2"]
        assert event["reason"] == "Conflict" and event["involvedObject"]["kind"] == "TrafficSplit"
        assert event["message"] == accepted["message"]

        # ... and the good split stays in effect until a valid update replaces it, which is
        # the next config the proxy gets: nothing from the invalid or conflicting objects came in between
        seen = len(web.configs)
        await mesh.patch(
            f"{SPLITS}/api-split",
            {
                "metadata": {"generation": 3},
                "spec": {"backends": [{"service": "api-v1", "weight": 1}, {"service": "api-v2", "weight": 1}]},
            },
        )
        fixed = await web.wait_config(lambda m: split_weights(m) == {"api-v1": 1, "api-v2": 1}, what="the fixed split")
        since_good = web.configs[web.configs.index(good) : seen]
        assert [split_weights(m) for m in since_good] == [{"api-v1": 3, "api-v2": 1}] * len(since_good)
        assert web.configs[seen] == fixed
