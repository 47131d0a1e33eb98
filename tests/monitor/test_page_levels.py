"""The traffic map page in a real browser against a fixture API: the mTLS lock and the monitoring switch.

The server is the page's own (``add_dashboard_routes``) and the real level endpoint
(``add_level_routes``) over an in-memory store; the metrics API answers are fixtures, the
shape ``smi up`` and ``smi metrics-api`` give, including ``mtls_share`` (the item's last
metric).  What a user sees: a lock on an edge whose share is at least 0.999 and on no other;
picking a level in a workload's details panel posts it, and the map marks the workload as not
monitored (and back).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.dashboard.test_browser_e2e import Browser, _missing
from tests.waiting import wait_for
from traffic_metrics.dashboard.serving import add_dashboard_routes
from traffic_metrics.levels import LevelError, Target, add_level_routes, item

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]

GV = "/apis/metrics.smi-spec.io/v1alpha1"
WEB, DB, CACHE, OLD = (f"Deployment/shop/{n}" for n in ("web", "db", "cache", "legacy"))


def resource(name: str) -> dict[str, str]:
    return {"kind": "Deployment", "namespace": "shop", "name": name}


def metrics_item(name: str, *, to: str | None = None, mtls: str | None = None) -> dict[str, Any]:
    metrics = [
        {"name": "p99_response_latency", "unit": "ms", "value": "12"},
        {"name": "p90_response_latency", "unit": "ms", "value": "9"},
        {"name": "p50_response_latency", "unit": "ms", "value": "3"},
        {"name": "success_count", "value": "60"},
        {"name": "failure_count", "value": "0"},
    ]
    if mtls is not None:
        metrics.append({"name": "mtls_share", "value": mtls})
    edge = {"direction": "to", "side": "client", "resource": resource(to)} if to else None
    return {"kind": "TrafficMetrics", "window": "30s", "resource": resource(name), "edge": edge, "metrics": metrics}


class FixtureLevels:
    """The level store the endpoint serves: what the page posts is what it reads back."""

    def __init__(self) -> None:
        self.set: dict[tuple[str, str, str], str] = {}
        self.posted: list[tuple[str, str | None]] = []

    def _item(self, target: Target) -> dict[str, Any]:
        own = self.set.get((target.kind, target.namespace, target.name))
        ns = self.set.get(("Namespace", target.namespace, target.namespace))
        level, source = (own, str(target)) if own else (ns, "Namespace shop") if ns else ("routes", "default")
        return item(target, {"smi-mesh.io/monitoring": own} if own else {}, level, source, None)

    async def levels(self, request: web.Request, namespace: str | None) -> list[dict[str, Any]]:
        targets = [Target("Namespace", "shop", "shop")]
        targets += [Target("Deployment", "shop", n) for n in ("web", "db", "cache", "legacy")]
        return [self._item(t) for t in targets]

    async def set_level(self, request: web.Request, target: Target, level: str | None) -> dict[str, Any]:
        if target.namespace != "shop":
            raise LevelError(404, f"{target}: not found")
        self.posted.append((str(target), level))
        key = (target.kind, target.namespace, target.name)
        if level is None:
            self.set.pop(key, None)
        else:
            self.set[key] = level
        return self._item(target)


def fixture_app(levels: FixtureLevels) -> web.Application:
    app = web.Application()
    add_dashboard_routes(app)
    add_level_routes(app, levels)
    workloads = [metrics_item(n) for n in ("web", "db", "cache", "legacy")]
    edges = [metrics_item("web", to="db", mtls="1"), metrics_item("web", to="cache", mtls="998m"),
             metrics_item("web", to="legacy")]  # fmt: skip

    async def listing(request: web.Request) -> web.Response:
        plural = request.match_info["plural"]
        if plural == "deployments":
            return web.json_response({"kind": "TrafficMetricsList", "items": workloads})
        if plural == "trafficsplits":
            return web.json_response({"kind": "TrafficMetricsList", "items": []})
        return web.json_response({"kind": "Status", "code": 404, "message": "not here"}, status=404)

    async def edge_list(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.json_response({"kind": "TrafficMetricsList", "items": edges if name == "web" else []})

    app.router.add_get(GV + "/{plural}", listing)
    app.router.add_get(GV + "/namespaces/shop/deployments/{name}/edges", edge_list)
    return app


@pytest.fixture(scope="module")
def page() -> Iterator[tuple[Browser, FixtureLevels]]:
    levels = FixtureLevels()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fixture_app(levels))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    browser: Browser | None = None
    try:
        browser = Browser(f"http://127.0.0.1:{port}/dashboard/?refresh=500")
        yield browser, levels
    finally:
        if browser is not None:
            print("browser console:", *browser.console[-20:], sep="\n  ")
            browser.close()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def drawn(browser: Browser, element: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = browser.js(
        "(id) => { const e = window.smiDashboard.map.cy.getElementById(id);"
        " return e.nonempty() ? { label: e.data('label'), classes: e.classes() } : null; }",
        element,
    )
    return found


def click(browser: Browser, element: str) -> None:
    wait_for(f"{element} on the map", lambda: drawn(browser, element))
    box = browser.page.locator("#map").bounding_box()
    assert box is not None
    at = browser.js("(id) => window.smiDashboard.map.cy.getElementById(id).renderedPosition()", element)
    browser.page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])


def test_a_lock_on_edges_with_an_mtls_share_of_at_least_0_999(page: tuple[Browser, FixtureLevels]) -> None:
    browser, _ = page
    locked = wait_for("the web → db edge", lambda: drawn(browser, f"{WEB}->{DB}"))
    assert "mtls" in locked["classes"] and "\U0001f512" in locked["label"], locked
    for other in (CACHE, OLD):  # 0.998, and a server that sends no mtls_share at all
        edge = wait_for(f"the web → {other} edge", lambda o=other: drawn(browser, f"{WEB}->{o}"))  # type: ignore[misc]
        assert "mtls" not in edge["classes"] and "\U0001f512" not in edge["label"], edge


def test_the_level_switch_in_the_details_panel(page: tuple[Browser, FixtureLevels]) -> None:
    browser, levels = page
    click(browser, WEB)
    wait_for("the switch in web's details", lambda: browser.page.locator("#monitoring-level").count() == 1)
    assert browser.page.locator("#monitoring-level").input_value() == "routes"
    browser.page.select_option("#monitoring-level", "off")
    wait_for("the page to post the level", lambda: levels.posted == [("Deployment shop/web", "off")])
    node = wait_for(
        "web drawn as not monitored", lambda: (n := drawn(browser, WEB)) and "level-off" in n["classes"] and n
    )
    assert "not monitored" in node["label"]
    wait_for("the details to say so", lambda: "not monitored" in browser.page.inner_text("#details"))
    assert "level-off" not in (drawn(browser, DB) or {}).get("classes", [])

    wait_for("the switch redrawn at off", lambda: browser.page.locator("#monitoring-level").input_value() == "off")
    browser.page.click("#monitoring-clear")
    wait_for("the page to clear the level", lambda: levels.posted[-1] == ("Deployment shop/web", None))
    wait_for(
        "web drawn as monitored again",
        lambda: "level-off" not in (drawn(browser, WEB) or {"classes": ["level-off"]})["classes"],
    )


def test_the_namespace_switch(page: tuple[Browser, FixtureLevels]) -> None:
    browser, levels = page
    wait_for("the namespace box", lambda: drawn(browser, "ns/shop"))
    browser.js("() => { window.smiDashboard.selected = 'ns/shop'; }")  # a compound box's centre is a workload
    wait_for("the namespace's details", lambda: "Namespace shop" in browser.page.inner_text("#details"))
    browser.page.select_option("#monitoring-level", "golden")
    wait_for("the post", lambda: levels.posted[-1] == ("Namespace shop", "golden"))
    box = wait_for(
        "the box marked golden", lambda: (n := drawn(browser, "ns/shop")) and "level-golden" in n["classes"] and n
    )
    assert "golden" in box["label"]
    assert "level-golden" in (drawn(browser, DB) or {})["classes"]  # its workloads follow the namespace
    browser.page.click("#monitoring-clear")
    wait_for("cleared", lambda: levels.posted[-1] == ("Namespace shop", None))
