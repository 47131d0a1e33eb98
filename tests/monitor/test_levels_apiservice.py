"""The page's monitoring switch reaches ``smi metrics-api`` in a cluster: APIService, discovery, RBAC.

* ``smi install`` (the repository's manifest, and the wheel's fallback) registers
  ``v1alpha1.monitoring.smi-mesh.io`` to the metrics API's Service, next to metrics and tap;
* a real ``smi metrics-api`` process answers the group's discovery (what the aggregator's
  availability check and kubectl read), naming each resource with its verbs, from memory
  and for anyone the front proxy vouches for or not (discovery is not per user);
* ClusterRole ``smi-monitor`` grants exactly the attributes the API server derives from the
  page's three calls (the aggregator authorizes them before forwarding), and no more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest

from smi.cluster import metrics_api as install
from smi.cluster.options import InstallOptions
from smi.cluster.rendering import render
from tests.metrics.test_security import pki
from tests.tap.cluster_standin import metrics_api, serve_api
from traffic_metrics.levels import LEVELS_BASE, LEVELS_GROUP

__all__ = ["pki"]  # the fixture, used by name

pytestmark = pytest.mark.timeout(120)

OPTIONS = InstallOptions(namespace="mesh-system")
OBJECTS = render(OPTIONS, secrets=None)


def one(kind: str, name: str, objects: list[dict[str, Any]] = OBJECTS) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def request_attributes(method: str, path: str) -> tuple[str, str, str, str]:
    """(verb, resource[/subresource], namespace, name) as the API server's request parsing derives them
    for a resource path of an API group (k8s.io/apiserver RequestInfoFactory: namespaces/NS/... names a
    namespace unless followed by status/finalize; GET without a name lists; POST creates)."""
    parts = path.removeprefix("/apis/").split("?")[0].strip("/").split("/")[2:]  # after group/version
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 2 and parts[2] not in ("status", "finalize"):
        namespace, parts = parts[1], parts[2:]
    resource, name, sub = parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""
    verb = {"POST": "create", "PATCH": "patch", "DELETE": "delete"}.get(method, "get" if name else "list")
    return verb, f"{resource}/{sub}" if sub else resource, namespace, name


# The page's calls (traffic_metrics/dashboard, traffic_metrics.levels)
PAGE_CALLS = [
    ("GET", LEVELS_BASE + "/levels?namespace=shop"),
    ("POST", LEVELS_BASE + "/namespaces/shop/level"),
    ("POST", LEVELS_BASE + "/namespaces/shop/deployments/web/level"),
]


def test_the_monitoring_apiservice_reaches_the_metrics_api_beside_metrics_and_tap() -> None:
    assert install.MONITORING_GROUP == LEVELS_GROUP
    service = one("Service", "smi-metrics-api")
    for name in (install.APISERVICE, install.TAP_APISERVICE, install.MONITORING_APISERVICE):
        spec = one("APIService", name)["spec"]
        assert spec["service"] == {"name": "smi-metrics-api", "namespace": "mesh-system", "port": 443}
        assert f"{spec['version']}.{spec['group']}" == name
    assert service["metadata"]["namespace"] == "mesh-system" and service["spec"]["ports"][0]["port"] == 443
    assert one("APIService", install.MONITORING_APISERVICE)["spec"]["group"] == "monitoring.smi-mesh.io"


def test_without_the_manifest_the_three_apiservices_are_still_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "manifest_objects", lambda options: [])  # a wheel install: no manifests/ dir
    docs = install.objects(OPTIONS, ca_bundle=b"the webhook CA")
    names = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "APIService")
    assert names == sorted(["v1alpha1.metrics.smi-spec.io", "v1alpha1.tap.smi-mesh.io",
                            "v1alpha1.monitoring.smi-mesh.io"])  # fmt: skip
    monitoring = one("APIService", install.MONITORING_APISERVICE, docs)["spec"]
    assert monitoring["service"] == {"name": "smi-metrics-api", "namespace": "mesh-system", "port": 443}
    assert monitoring["caBundle"] == "dGhlIHdlYmhvb2sgQ0E="


def test_smi_monitor_grants_exactly_what_the_aggregator_checks_for_the_pages_calls() -> None:
    assert [request_attributes(m, p) for m, p in PAGE_CALLS] == [
        ("list", "levels", "", ""),
        ("create", "level", "shop", ""),
        ("create", "deployments/level", "shop", "web"),
    ]
    role = one("ClusterRole", "smi-monitor")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}  # fmt: skip
    derived = {(LEVELS_GROUP, resource, verb) for verb, resource, _, _ in
               (request_attributes(m, p) for m, p in PAGE_CALLS)}  # fmt: skip
    assert granted == derived
    assert all("resourceNames" not in rule for rule in role["rules"])
    labels = role["metadata"]["labels"]
    assert not any(k.startswith("rbac.authorization.k8s.io/aggregate") for k in labels)  # bound on purpose only
    # the server's own patch (after its SubjectAccessReview for the user) stays granted to its ServiceAccount
    own = one("ClusterRole", "smi-metrics-api")["rules"]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]} in own
    assert {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]} in own


async def test_a_real_metrics_api_serves_the_monitoring_and_tap_groups_discovery(
    kmock: kmock.KubernetesEmulator, pki: dict[str, Path], tmp_path: Path
) -> None:
    serve_api(kmock, pki["front-ca.crt"].read_text(), {})
    async with metrics_api(None, kmock, pki, tmp_path) as api, aiohttp.ClientSession() as s:

        async def get(path: str, client: str | None = "aggregator") -> Any:
            async with s.get(api.url + path, ssl=api.client_context(client), headers={"X-Remote-User": "jane"}) as r:
                assert r.status == 200, (path, await r.text())
                return await r.json()

        group = await get("/apis/monitoring.smi-mesh.io")
        version = {"groupVersion": "monitoring.smi-mesh.io/v1alpha1", "version": "v1alpha1"}
        assert group == {"kind": "APIGroup", "apiVersion": "v1", "name": "monitoring.smi-mesh.io",
                         "versions": [version], "preferredVersion": version}  # fmt: skip
        listed = await get(LEVELS_BASE)
        assert (listed["kind"], listed["groupVersion"]) == ("APIResourceList", "monitoring.smi-mesh.io/v1alpha1")
        served = {(r["name"], r["namespaced"], tuple(r["verbs"])) for r in listed["resources"]}
        assert served == {("levels", False, ("list",)), ("level", True, ("create",)),
                          ("deployments/level", True, ("create",))}  # fmt: skip
        # what discovery names is what the aggregator authorizes for the page's calls
        assert {(verb, resource) for verb, resource, _, _ in (request_attributes(m, p) for m, p in PAGE_CALLS)} == {
            (verb, name) for name, _, verbs in served for verb in verbs
        }
        assert await get(LEVELS_BASE, client=None) == listed  # the aggregator's availability check: no user needed
        tap = await get("/apis/tap.smi-mesh.io/v1alpha1")  # the same helper serves tap's
        assert {(r["name"], tuple(r["verbs"])) for r in tap["resources"]} >= {("deployments/tap", ("watch",))}
        assert (await get("/apis/tap.smi-mesh.io"))["preferredVersion"]["groupVersion"] == "tap.smi-mesh.io/v1alpha1"
        api.process.alive()
