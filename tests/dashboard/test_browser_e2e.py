"""The traffic map in a real browser: headless Chromium (Playwright) against ``smi up`` with the demo.

What a user sees: the demo's edges with the numbers the metrics API gives, the split's
configured weights following an edit of the manifest within 5 s (the issue's bound; the
page redraws every 2 s and reads the configured weights from the API), bookthief's edge
drawn as denied, a workload switched to monitoring level ``off`` from its details panel
(drawn as not monitored, its sidecar exporting no request series, its tap ended) and back,
and a screenshot of it all (written under the test's tmp_path; the path is printed).

Needs the Debian ``chromium``, the Python ``playwright`` package (driving the system
Chromium: nothing downloads a browser) and the built graph library (./scripts/build-dashboard).
The demo runs without its UDP pair (50-udp.yaml): the map is about HTTP edges, and two
fewer pods is less load on a shared machine.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smi.cli.up import DEMO_DIR
from tests.runtime.harness import Mesh
from tests.waiting import wait_for
from traffic_metrics.dashboard.serving import library_path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GV = "/apis/metrics.smi-spec.io/v1alpha1"
NS = "bookstore"
BUYER = f"Deployment/{NS}/bookbuyer"
THIEF = f"Deployment/{NS}/bookthief"
V1 = f"Deployment/{NS}/bookstore-v1"


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return "no chromium (apt-get install chromium; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    if not library_path().is_file():
        return "the dashboard's graph library is not built (./scripts/build-dashboard)"
    return None


pytestmark = [pytest.mark.timeout(300), pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]


class Browser:
    def __init__(self, url: str) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            self.page = self.browser.new_page(viewport={"width": 1400, "height": 900})
            self.console: list[str] = []
            self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
            self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
            self.page.goto(url)
        except Exception:
            self.close()
            raise

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def model(self) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.js("window.smiDashboard && window.smiDashboard.model")
        return result

    def updates(self) -> int:
        return int(self.js("Number(document.body.dataset.updates || 0)"))

    def close(self) -> None:
        try:
            if hasattr(self, "browser"):
                self.browser.close()
        finally:
            self._pw.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, Browser, Path]]:
    work = tmp_path_factory.mktemp("dashboard-demo")
    folder = work / "manifests"
    folder.mkdir()
    for source in sorted(DEMO_DIR.glob("*.yaml")):
        if source.name != "50-udp.yaml":
            shutil.copy(source, folder / source.name)
    mesh = Mesh(manifests=folder, work=work)
    browser: Browser | None = None
    try:
        mesh.wait_ready(["bookbuyer", "bookthief", "bookstore-v1", "bookstore-v2"], limit=90)
        browser = Browser(mesh.info.control_url + "/dashboard/")
        yield mesh, browser, work
    finally:
        if browser is not None:
            print("browser console:", *browser.console[-20:], sep="\n  ")
            browser.close()
        mesh.close()


def api(mesh: Mesh, path: str) -> Any:
    with urllib.request.urlopen(mesh.info.control_url + path, timeout=30) as response:
        return json.loads(response.read())


def _edge(model: dict[str, Any] | None, source: str, target: str) -> dict[str, Any] | None:
    for edge in (model or {}).get("edges", []):
        if edge["source"] == source and edge["target"] == target:
            return dict(edge)
    return None


def _api_counts(mesh: Mesh, side: str) -> dict[str, float] | None:
    answer = api(mesh, f"{GV}/namespaces/{NS}/deployments/bookbuyer/edges?window=30s")
    for item in answer["items"]:
        edge = item["edge"]
        if edge["direction"] == "to" and edge["resource"].get("name") == "bookstore-v1" and edge.get("side") == side:
            from traffic_metrics.quantity import parse_quantity

            return {m["name"]: float(parse_quantity(m["value"])) for m in item["metrics"]}
    return None


def test_the_map_shows_the_demo_edges_with_the_api_numbers(demo: tuple[Mesh, Browser, Path]) -> None:
    mesh, browser, _ = demo
    edge = wait_for(
        "the page to draw bookbuyer → bookstore-v1 with traffic",
        lambda: (e := _edge(browser.model(), BUYER, V1)) and e["figures"]["total"] > 0 and e,
        within=60,
    )

    def agree() -> tuple[dict[str, Any], dict[str, float]] | None:
        # The page redraws every 2 s and the API's figures move with each scrape: compare the
        # page's latest answer with the API's right after it, until both saw the same scrape.
        seen = browser.updates()
        wait_for("a redraw", lambda: browser.updates() > seen, within=15)
        drawn = _edge(browser.model(), BUYER, V1)
        assert drawn is not None
        counts = _api_counts(mesh, drawn["side"])
        if counts is None:
            return None
        same = all(drawn["figures"][k] == counts[k] for k in ("success_count", "failure_count"))
        return (drawn, counts) if same else None

    drawn, counts = wait_for(
        "the page and the API to show the same counts for bookbuyer → bookstore-v1", agree, within=60
    )
    assert counts["success_count"] > 0
    assert drawn["figures"]["p99"] == pytest.approx(counts["p99_response_latency"])
    label = browser.js("(id) => window.smiDashboard.map.cy.getElementById(id).data('label')", drawn["id"])
    assert "rps" in label and "p99" in label, label
    status = browser.page.inner_text("#status")
    assert "workloads" in status and "edges" in status, status
    assert edge["side"] in ("client", "server")


def test_bookthief_is_drawn_as_denied(demo: tuple[Mesh, Browser, Path]) -> None:
    _, browser, _ = demo

    def denied_edge() -> str | None:
        for e in (browser.model() or {}).get("edges", []):
            if e["source"] == THIEF and e["denied"] > 0:
                drawn = browser.js(
                    "(id) => { const el = window.smiDashboard.map.cy.getElementById(id);"
                    " return el.nonempty() && el.hasClass('denied') ? el.data('label') : null; }",
                    e["id"],
                )
                return str(drawn) if drawn else None
        return None

    label = wait_for("bookthief's edge drawn as denied", denied_edge, within=60)
    assert "denied" in label, label


def test_editing_the_split_weights_shows_on_the_map(demo: tuple[Mesh, Browser, Path]) -> None:
    _, browser, work = demo

    def weights() -> dict[str, float]:
        splits = (browser.model() or {}).get("splits", [])
        return {b["name"]: b["configured"] for s in splits for b in s["backends"]}

    wait_for("the split drawn at 75/25", lambda: weights() == {"bookstore-v1": 0.75, "bookstore-v2": 0.25}, within=30)
    path = work / "manifests" / "30-split.yaml"
    path.write_text(path.read_text().replace("weight: 75", "weight: 10").replace("weight: 25", "weight: 90"))
    wait_for(
        "the map to show the new weights", lambda: weights() == {"bookstore-v1": 0.1, "bookstore-v2": 0.9}, within=5
    )
    label = browser.js("() => window.smiDashboard.map.cy.edges('.split').map((e) => e.data('label')).join(' | ')")
    assert re.search(r"weight 10(\.0)?% .* weight 90(\.0)?%", label), label
    shot = work / "traffic-map.png"
    browser.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot of the traffic map: {shot}")


def click_node(browser: Browser, node: str) -> None:
    wait_for(
        f"{node} on the map",
        lambda: browser.js("(id) => window.smiDashboard.map.cy.getElementById(id).nonempty()", node),
    )
    box = browser.page.locator("#map").bounding_box()
    assert box is not None
    at = browser.js("(id) => window.smiDashboard.map.cy.getElementById(id).renderedPosition()", node)
    browser.page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    name = node.rsplit("/", 1)[-1]
    wait_for(f"the details of {name}", lambda: name in browser.page.inner_text("#details h2"))


def test_clicking_a_workload_shows_its_requests_as_they_happen(demo: tuple[Mesh, Browser, Path]) -> None:
    _, browser, _ = demo
    click_node(browser, V1)

    def tapped() -> list[str] | None:
        rows = browser.page.locator("#tap tr").all_inner_texts()[1:]
        return [r for r in rows if "/books" in r and "200" in r] or None

    rows = wait_for("a tapped request in the details panel", tapped, within=30)
    assert "bookbuyer" in rows[0] or "inbound" in rows[0], rows


def test_smi_tap_prints_the_requests_of_a_workload(demo: tuple[Mesh, Browser, Path]) -> None:
    mesh, _, _ = demo
    done = mesh.smi("tap", "deploy/bookthief", "-n", NS, "--status-class", "4xx", "--max-events", "3")
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    assert all("bookthief" in line and " 403 " in line and "rule=denied" in line for line in lines), lines
    done = mesh.smi(
        "tap", "deploy/bookstore-v1", "-n", NS, "--path-prefix", "/books", "--max-events", "2", "-o", "json"
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["destination_workload"], e["path"], e["status"]) for e in events] == [
        ("bookstore-v1", "/books", 200)
    ] * 2
    refused = mesh.smi("tap", "deploy/bookthief", "-n", NS, "--status-class", "6xx", check=False)
    assert refused.returncode == 1 and "status_class" in refused.stderr


def _request_series(mesh: Mesh, deployment: str) -> int:
    """How many ``smi_requests_total`` samples the deployment's sidecar exports."""
    pod = next(p for p in mesh.status()["pods"] if p["deployment"] == deployment)
    with urllib.request.urlopen(pod["sidecar"]["admin"] + "/metrics", timeout=10) as response:
        return sum(1 for line in response.read().decode().splitlines() if line.startswith("smi_requests_total{"))


def _classes(browser: Browser, node: str) -> list[str]:
    found: list[str] = browser.js("(id) => window.smiDashboard.map.cy.getElementById(id).classes()", node)
    return found


def test_switching_a_workload_off_from_the_page_and_back(demo: tuple[Mesh, Browser, Path]) -> None:
    mesh, browser, _ = demo
    click_node(browser, BUYER)
    wait_for("the tap of bookbuyer", lambda: len(browser.page.locator("#tap tr").all()) > 1, within=30)
    try:
        browser.page.select_option("#monitoring-level", "off")
        wait_for("bookbuyer drawn as not monitored", lambda: "level-off" in _classes(browser, BUYER), within=15)
        wait_for("its sidecar to export no request series", lambda: _request_series(mesh, "bookbuyer") == 0, within=15)
        wait_for("its tap to say tap is off", lambda: "tap is off" in browser.page.inner_text("#details"), within=15)
        assert "not monitored" in browser.page.inner_text("#details")
        levels = json.loads(mesh.smi("monitor", "-n", NS, "-o", "json").stdout)
        buyer = next(i for i in levels if i["kind"] == "Deployment" and i["name"] == "bookbuyer")
        assert (buyer["level"], buyer["overlay"]) == ("off", True)
        assert "level-off" not in _classes(browser, V1)
    finally:
        browser.page.click("#monitoring-clear")
    wait_for("bookbuyer monitored again", lambda: "level-off" not in _classes(browser, BUYER), within=15)
    wait_for("its request series back", lambda: _request_series(mesh, "bookbuyer") > 0, within=30)
    wait_for(
        "tapped requests again", lambda: "tap is off" not in browser.page.inner_text("#details")
        and len(browser.page.locator("#tap tr").all()) > 1, within=30,
    )  # fmt: skip
