"""``smi monitor`` against ``smi up``: levels switch live, survive manifest reloads, and restart nothing.

One small mesh (namespace ``shop``: a store, a buyer allowed to GET /books).  What a user
sees: the listing, each sidecar's ``/metrics`` following the level within a bound, the same
pods before and after, and a clear refusal for a bad level or an unknown workload.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import manifests as m
from tests.runtime.harness import Mesh, wait_for

pytestmark = pytest.mark.timeout(240)

LEVELS = "/apis/monitoring.smi-mesh.io/v1alpha1"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    work = tmp_path_factory.mktemp("monitor")
    folder = work / "manifests"
    folder.mkdir()
    (folder / "00-ns.yaml").write_text(m.NAMESPACE)
    (folder / "10-services.yaml").write_text(m.service("store", "{app: store}"))
    (folder / "20-store.yaml").write_text(m.store("v1"))
    (folder / "30-buyer.yaml").write_text(m.client("buyer", "buyer", "http://store.shop:8080/books", rate=20))
    (folder / "50-access.yaml").write_text(m.ACCESS)
    mesh = Mesh(manifests=folder, work=work)
    try:
        mesh.wait_ready(["store-v1", "buyer"])
        yield mesh
    finally:
        mesh.close()


def levels(mesh: Mesh) -> dict[tuple[str, str], dict[str, Any]]:
    items = json.loads(mesh.smi("monitor", "-n", "shop", "-o", "json").stdout)
    return {(i["kind"], i["name"]): i for i in items}


def request_series(mesh: Mesh, deployment: str) -> list[dict[str, str]]:
    """The labels of each ``smi_requests_total`` sample the deployment's sidecar exports."""
    admin = mesh.pods(deployment)[0]["sidecar"]["admin"]
    with urllib.request.urlopen(admin + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = []
    for line in text.splitlines():
        if line.startswith("smi_requests_total{"):
            pairs = line[line.index("{") + 1 : line.rindex("}")]
            found.append(dict(p.split("=", 1) for p in pairs.replace('"', "").split(",")))
    return found


def namespace(mesh: Mesh) -> dict[str, Any]:
    with urllib.request.urlopen(mesh.info.control_url + "/v1/objects?kind=ns&name=shop", timeout=10) as response:
        found: dict[str, Any] = json.loads(response.read())["items"][0]
        return found


def pod_names(mesh: Mesh) -> set[str]:
    return {p["name"] for p in mesh.status()["pods"]}


def test_listing_shows_the_default_routes_level(mesh: Mesh) -> None:
    found = levels(mesh)
    assert found[("Namespace", "shop")]["level"] == "routes"
    assert (found[("Deployment", "buyer")]["level"], found[("Deployment", "buyer")]["source"]) == ("routes", "default")
    table = mesh.smi("monitor", "-n", "shop").stdout
    assert "LEVEL" in table.splitlines()[0] and "buyer" in table


def test_switching_levels_live_with_no_restart_and_across_reloads(mesh: Mesh) -> None:
    pods = pod_names(mesh)
    wait_for("per-route series at the store", lambda: any(s["route"] for s in request_series(mesh, "store-v1")))

    done = mesh.smi("monitor", "deploy/buyer", "-n", "shop", "--level", "off")
    assert "off" in done.stdout
    wait_for("the buyer's sidecar to export no request series", lambda: request_series(mesh, "buyer") == [], within=20)
    assert levels(mesh)[("Deployment", "buyer")]["level"] == "off"

    # A manifest reload keeps the level set by `smi monitor` (an overlay on the stored object).
    ns_file = mesh.manifests / "00-ns.yaml"
    ns_file.write_text(ns_file.read_text().replace("metadata: {name: shop}", "metadata: {name: shop, labels: {a: b}}"))
    wait_for("the reload", lambda: namespace(mesh)["metadata"].get("labels") == {"a": "b"}, within=20)
    assert levels(mesh)[("Deployment", "buyer")]["level"] == "off"
    assert request_series(mesh, "buyer") == []

    mesh.smi("monitor", "ns/shop", "--level", "golden")
    wait_for(
        "the store's series without routes",
        lambda: (s := request_series(mesh, "store-v1")) and all(x["route"] == "" for x in s),
        within=20,
    )
    assert levels(mesh)[("Deployment", "store-v1")]["source"] == "Namespace shop"

    mesh.smi("monitor", "deploy/buyer", "-n", "shop", "--clear")
    wait_for("the buyer back at its namespace's level", lambda: request_series(mesh, "buyer") != [], within=20)
    assert levels(mesh)[("Deployment", "buyer")]["level"] == "golden"
    mesh.smi("monitor", "ns/shop", "--clear")
    wait_for("per-route series again", lambda: any(s["route"] for s in request_series(mesh, "store-v1")), within=20)
    assert pod_names(mesh) == pods, "switching levels restarted no pod"


def test_bad_requests_get_a_clear_refusal(mesh: Mesh) -> None:
    unknown = mesh.smi("monitor", "deploy/nobody", "-n", "shop", "--level", "off", check=False)
    assert unknown.returncode == 1 and "Deployment shop/nobody: not found" in unknown.stderr
    bad = mesh.smi("monitor", "deploy/buyer", "-n", "shop", "--level", "verbose", check=False)
    assert bad.returncode == 2 and "invalid choice: 'verbose'" in bad.stderr
    request = urllib.request.Request(
        mesh.info.control_url + f"{LEVELS}/namespaces/shop/deployments/buyer/level",
        data=json.dumps({"level": "verbose"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(refused.value.read())
    assert refused.value.code == 400
    assert body["message"] == "level: must be one of off, golden, routes (or null to clear), got 'verbose'"


def test_an_invalid_annotation_in_a_manifest_is_a_warning_and_the_default(mesh: Mesh, tmp_path: Path) -> None:
    ns_file = mesh.manifests / "00-ns.yaml"
    original = ns_file.read_text()
    try:
        ns_file.write_text(original.replace("{name: shop", "{name: shop, annotations: {smi-mesh.io/monitoring: loud}"))
        found = wait_for(
            "the annotation to be read", lambda: (i := levels(mesh)[("Namespace", "shop")])["problem"] and i
        )
        assert found["level"] == "routes"
        assert found["problem"] == (
            "Namespace shop: metadata.annotations[smi-mesh.io/monitoring]: must be one of off, golden, routes,"
            " got 'loud'; the default 'routes' applies"
        )
        listing = mesh.smi("monitor", "-n", "shop")
        assert "warning: Namespace shop: metadata.annotations[smi-mesh.io/monitoring]" in listing.stderr
        assert found["problem"] in mesh.status()["problems"]  # `smi status` lists it too
    finally:
        ns_file.write_text(original)
