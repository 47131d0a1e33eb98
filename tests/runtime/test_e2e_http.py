"""End to end through ``smi up`` with real processes: split, live edits, access, routes, restarts.

One mesh for the module (the bookstore shape in namespace ``shop``): store v1/v2 behind a
TrafficSplit, a buyer allowed to GET /books, a nosy buyer (same identity) asking for
/secret, a thief with no TrafficTarget.  Each test leaves the folder as it found it.
"""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime import manifests as m
from tests.runtime.harness import LogTail, Mesh, wait_for

pytestmark = pytest.mark.timeout(300)

STORE_URL = "http://store.shop:8080/books"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    work = tmp_path_factory.mktemp("mesh")
    folder = work / "manifests"
    folder.mkdir()
    (folder / "00-ns.yaml").write_text(m.NAMESPACE)
    (folder / "10-services.yaml").write_text(
        "---\n".join(
            [
                m.service("store", "{app: store}"),
                m.service("store-v1", "{app: store, version: v1}"),
                m.service("store-v2", "{app: store, version: v2}"),
            ]
        )
    )
    (folder / "20-stores.yaml").write_text(m.store("v1") + "---\n" + m.store("v2"))
    (folder / "30-clients.yaml").write_text(
        "---\n".join(
            [
                m.client("buyer", "buyer", STORE_URL),
                m.client("nosy", "buyer", "http://store.shop.svc.cluster.local:8080/secret", rate=10),
                m.client("thief", "thief", STORE_URL, rate=10, module="bookthief"),
            ]
        )
    )
    (folder / "40-split.yaml").write_text(m.split(75, 25))
    (folder / "50-access.yaml").write_text(m.ACCESS)
    mesh = Mesh(manifests=folder, work=work)
    try:
        mesh.wait_ready(["store-v1", "store-v2", "buyer", "nosy", "thief"])
        yield mesh
    finally:
        mesh.close()


def denied(line: str) -> bool:
    """A request the mesh refused: 403 from the caller's sidecar (no TrafficTarget lets it reach
    the service) or from the destination's (a route it may not use); never the app's answer."""
    return line.startswith("403 ") and "bookstore" not in line


def versions(lines: list[str]) -> collections.Counter[str]:
    return collections.Counter(line.split()[2] for line in lines if line.startswith("200 bookstore "))


def recent(tail: LogTail, n: int, *, what: str, limit: float = 30) -> list[str]:
    """Wait (bounded) until the tail has ``n`` answer lines; returns the first ``n``."""

    def check() -> list[str] | None:
        lines = [x for x in tail.lines() if x[:1].isdigit()]
        return lines[:n] if len(lines) >= n else None

    return wait_for(what, check, within=limit)


def test_the_split_sends_traffic_by_weight_and_a_saved_weight_change_shifts_it(mesh: Mesh) -> None:
    buyer = LogTail(mesh.log_path("buyer", "app"))
    wait_for("the buyer to be served", lambda: versions(buyer.lines()))
    buyer.reset()
    lines = recent(buyer, 80, what="80 answers to the buyer")
    counts = versions(lines)
    assert sum(counts.values()) == 80, lines  # every request answered 200
    assert 56 <= counts["v1"] <= 64 and 16 <= counts["v2"] <= 24, counts  # 75/25 (smooth WRR: ±4 for the edge)
    (mesh.manifests / "40-split.yaml").write_text(m.split(0, 100))
    try:
        wait_for(
            "only v2 answering after the edit",
            lambda: (lines := buyer.lines()[-20:]) and len(lines) == 20 and versions(lines) == {"v2": 20},
        )
    finally:
        (mesh.manifests / "40-split.yaml").write_text(m.split(75, 25))
    wait_for("v1 answering again", lambda: versions(buyer.lines()[-8:])["v1"] >= 4)


def dashboard_row(mesh: Mesh, label: str) -> tuple[float, str] | None:
    """(requests per second, success) of ``label`` in the last dashboard frame that shows it."""
    for line in reversed(mesh.output().splitlines()):
        if line.strip().startswith(label):
            rps, success, _p99 = line[len(line.rstrip()) - 26 :].split()
            return float(rps), success
    return None


def test_the_dashboard_shows_rates_success_and_p99_per_edge_and_backend(mesh: Mesh) -> None:
    def shown() -> bool:
        edge = dashboard_row(mesh, "shop/buyer → shop/store")
        v1 = dashboard_row(mesh, "↳ store-v1")
        v2 = dashboard_row(mesh, "↳ store-v2")
        return bool(edge and v1 and v2 and edge[0] > 0 and v1[0] > v2[0] > 0 and edge[1] == "100.0%")

    wait_for("buyer traffic on the dashboard, split 75/25", shown)
    assert "ms" in next(x for x in reversed(mesh.output().splitlines()) if "shop/buyer → shop/store" in x)


def test_access_is_denied_by_default_and_a_deleted_traffic_target_denies_again(mesh: Mesh) -> None:
    thief = LogTail(mesh.log_path("thief", "app"))
    nosy = LogTail(mesh.log_path("nosy", "app"))
    buyer = LogTail(mesh.log_path("buyer", "app"))
    assert all(denied(line) for line in recent(thief, 5, what="the thief's attempts")), thief.lines()
    # same identity as the buyer, but the route (GET /books) does not match /secret
    assert all(line.startswith("403 ") for line in recent(nosy, 5, what="the nosy buyer's attempts")), nosy.lines()
    assert all(line.startswith("200") for line in recent(buyer, 5, what="the buyer's purchases")), buyer.lines()
    access = mesh.manifests / "50-access.yaml"
    access.unlink()
    try:
        buyer.reset()
        wait_for(
            "the buyer denied once the TrafficTarget is gone",
            lambda: (lines := buyer.lines()[-5:]) and len(lines) == 5 and all(denied(x) for x in lines),
        )
    finally:
        access.write_text(m.ACCESS)
    buyer.reset()
    wait_for(
        "the buyer allowed again",
        lambda: (lines := buyer.lines()[-5:]) and len(lines) == 5 and all(x.startswith("200") for x in lines),
    )


def test_an_invalid_file_is_reported_and_ignored_while_traffic_keeps_flowing(mesh: Mesh) -> None:
    buyer = LogTail(mesh.log_path("buyer", "app"))
    bad_split = mesh.manifests / "40-split.yaml"
    junk = mesh.manifests / "60-junk.yaml"
    bad_split.write_text(m.split(75, -5))
    junk.write_text("kind: [this is\n not yaml")
    try:
        status = wait_for(
            "the problems reported", lambda: (s := mesh.status())["problems"] and len(s["problems"]) >= 2 and s
        )
        text = "\n".join(status["problems"])
        assert "40-split.yaml: TrafficSplit shop/store-split: spec.backends[1].weight" in text
        assert "60-junk.yaml: not valid YAML" in text
        assert "ignored: 40-split.yaml" in mesh.output()
        lines = recent(buyer, 60, what="traffic during the bad edit")
        assert all(line.startswith("200") for line in lines), [x for x in lines if not x.startswith("200")]
        counts = versions(lines)
        assert counts["v1"] > counts["v2"] > 0  # still 75/25: the last good split
    finally:
        bad_split.write_text(m.split(75, 25))
        junk.unlink()
    wait_for("the problems cleared", lambda: mesh.status()["problems"] == [])


def test_a_killed_app_is_restarted_and_shown_in_status(mesh: Mesh) -> None:
    pod = mesh.pods("store-v2")[0]
    app = next(p for p in pod["processes"] if p["name"].endswith("/app"))
    os.kill(app["pid"], signal.SIGKILL)

    def restarted() -> dict[str, object] | None:
        pods = mesh.pods("store-v2")
        again = next(p for p in pods[0]["processes"] if p["name"].endswith("/app"))
        return again if again["restarts"] >= 1 and again["pid"] not in (None, app["pid"]) and pods[0]["ready"] else None

    again = wait_for("the app restarted and the pod ready again", restarted)
    assert again["last_exit"] == -signal.SIGKILL
    shown = mesh.smi("status").stdout
    assert "restarts 1" in shown and f"last exit {-signal.SIGKILL}" in shown
    buyer = LogTail(mesh.log_path("buyer", "app"))
    wait_for("v2 serving again", lambda: versions(buyer.lines())["v2"] >= 3)


def test_get_apply_and_delete_work_against_the_running_mesh(mesh: Mesh, tmp_path: Path) -> None:
    shown = mesh.smi("get", "ts", "-n", "shop").stdout
    assert "store-split" in shown and "store-v1=75" in shown
    as_yaml = mesh.smi("get", "trafficsplit", "store-split", "-n", "shop", "-o", "yaml").stdout
    assert "kind: TrafficSplit" in as_yaml and "weight: 25" in as_yaml
    pods = mesh.smi("get", "pods", "-n", "shop").stdout
    assert pods.count("store-v1-") == 1 and "ready=True" in pods
    missing = mesh.smi("get", "ts", "nope", "-n", "shop", check=False)
    assert missing.returncode == 1 and "TrafficSplit 'nope' not found" in missing.stderr

    thief_target = tmp_path / "thief-target.yaml"
    thief_target.write_text(
        m.ACCESS.split("---\n")[1]
        .replace("buyer-to-store", "thief-to-store")
        .replace("name: buyer, namespace", "name: thief, namespace")
    )
    thief = LogTail(mesh.log_path("thief", "app"))
    assert "TrafficTarget shop/thief-to-store applied" in mesh.smi("apply", "-f", str(thief_target)).stdout
    try:
        wait_for("the thief let in by the applied target", lambda: any(x.startswith("200") for x in thief.lines()))
    finally:
        assert "deleted" in mesh.smi("delete", "-f", str(thief_target)).stdout
    thief.reset()
    wait_for(
        "the thief denied again",
        lambda: (lines := thief.lines()[-3:]) and len(lines) == 3 and all(denied(x) for x in lines),
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(m.split(1, -1))
    refused = mesh.smi("apply", "-f", str(bad), check=False)
    assert refused.returncode == 1 and "spec.backends[1].weight" in refused.stderr
