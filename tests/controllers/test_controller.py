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
from tests.distribution.helpers import StreamClient, wait_until


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

    await wait_until_async(lambda s: bool(s.get("conditions")), status, what="the split's status")
    got = await status()
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
    await wait_until_async(lambda s: s.get("observedGeneration") == 4, status, what="observedGeneration 4")
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

        await wait_until_async(
            lambda c: c.get("Valid", {}).get("status") == "False", valid_condition, what="Valid=False"
        )
        conditions = await valid_condition()
        assert "spec.backends[0].weight" in conditions["Valid"]["message"]
        assert conditions["Valid"]["observedGeneration"] == 2
        assert "previous valid version stays in effect" in conditions["Accepted"]["message"]

        async def warning_events() -> list[dict[str, Any]]:
            data = await mesh.get(EVENTS)
            return [e for e in data["items"] if e.get("type") == "Warning"]

        await wait_until_async(lambda evs: len(evs) >= 2, warning_events, what="two Warning events")
        events = await warning_events()
        about = {e["involvedObject"]["name"]: e for e in events}
        assert about["api-split"]["reason"] == "InvalidObject"
        assert "spec.backends[0].weight" in about["api-split"]["message"]
        assert "other" in about

        # the rest still works: a new valid object takes effect, the good split is unchanged
        await mesh.create(SPLITS, split("api-split-2", weights={"api-v2": 1}))
        assert split_weights(web.configs[-1]) == {"api-v1": 3, "api-v2": 1}
        assert mesh.controller is not None
        await wait_until(lambda: ("TrafficSplit", "default", "api-split-2") in set(mesh.store.snapshot().keys()))


async def wait_until_async(predicate: Any, probe: Any, *, what: str, within: float = 15.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if predicate(value):
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.02)
