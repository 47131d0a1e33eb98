"""Known traffic through ``smi up``: the TrafficMetrics API, the CLI and kubectl report it right.

30 requests answered 200 and 10 answered 500 by the app, each taking 200 ms (the
(150, 250] ms histogram bucket): success 30, failure 10, latencies within one bucket,
and the caller → server edge seen on both sides.
"""

from __future__ import annotations

import json

import pytest

from tests.metrics import manifests as m
from tests.metrics.conftest import FAILED_REQUESTS, OK_REQUESTS, KnownTraffic, kubectl_available
from traffic_metrics.model import METRIC_NAMES
from traffic_metrics.quantity import parse_quantity

pytestmark = pytest.mark.timeout(300)

BASE = "/apis/metrics.smi-spec.io/v1alpha1"
NS = m.NAMESPACE


def figures(obj: dict[str, object]) -> dict[str, float]:
    metrics = obj["metrics"]
    assert isinstance(metrics, list)
    return {x["name"]: parse_quantity(x["value"]) for x in metrics}


def within_one_bucket(ms: float) -> bool:
    """200 ms falls in (150, 250]; one bucket of slack each way is (100, 500]."""
    return 100 < ms <= 500


def test_a_deployment_reports_the_known_counts_and_latency(known: KnownTraffic) -> None:
    got = known.api(f"{BASE}/namespaces/{NS}/deployments/server?window=5m")
    assert got["kind"] == "TrafficMetrics"
    assert [x["name"] for x in got["metrics"][:5]] == list(METRIC_NAMES)
    assert got["window"] == "5m0s"
    assert got["resource"] == {"kind": "Deployment", "namespace": NS, "name": "server"}
    f = figures(got)
    assert (f["success_count"], f["failure_count"]) == (OK_REQUESTS, FAILED_REQUESTS)
    for name in METRIC_NAMES[:3]:
        assert within_one_bucket(f[name]), (name, f[name])
    assert f["success_rate"] == 0.75


def test_edges_name_both_ends_on_both_sides(known: KnownTraffic) -> None:
    caller = known.api(f"{BASE}/namespaces/{NS}/deployments/caller/edges?window=5m")
    server = known.api(f"{BASE}/namespaces/{NS}/deployments/server/edges?window=5m")
    assert caller["kind"] == server["kind"] == "TrafficMetricsList"
    sides = {
        (i["edge"]["direction"], i["edge"]["side"], i["edge"]["resource"].get("name")): figures(i)
        for i in caller["items"]
    }
    assert sides[("to", "client", "server")]["failure_count"] == FAILED_REQUESTS
    assert sides[("to", "server", "server")]["success_count"] == OK_REQUESTS
    seen = {(i["edge"]["direction"], i["edge"]["side"], i["edge"]["resource"].get("name")) for i in server["items"]}
    assert {("from", "client", "caller"), ("from", "server", "caller")} <= seen
    for item in server["items"]:
        assert item["metadata"]["selfLink"].endswith("/edges")


def test_the_server_side_names_its_caller_from_the_series_and_every_hop_was_mtls(known: KnownTraffic) -> None:
    """caller and caller-twin run as one ServiceAccount: only the sidecars' own source_workload names the caller."""
    server = known.api(f"{BASE}/namespaces/{NS}/deployments/server/edges?window=5m")
    inbound = [i for i in server["items"] if (i["edge"]["direction"], i["edge"]["side"]) == ("from", "server")]
    assert [i["edge"]["resource"] for i in inbound] == [{"kind": "Deployment", "namespace": NS, "name": "caller"}]
    assert figures(inbound[0])["success_count"] == OK_REQUESTS
    twin = known.api(f"{BASE}/namespaces/{NS}/deployments/caller-twin/edges?window=5m")
    assert twin["items"] == []  # it sent nothing, and nothing is put on it by its identity
    got = known.api(f"{BASE}/namespaces/{NS}/deployments/server?window=5m")
    assert got["metrics"][-1] == {"name": "mtls_share", "value": "1"}
    assert [x["name"] for x in got["metrics"][:5]] == list(METRIC_NAMES)
    for item in known.api(f"{BASE}/namespaces/{NS}/deployments/caller/edges?window=5m")["items"]:
        assert figures(item)["mtls_share"] == 1, item["edge"]
    # the server's sidecar itself: its inbound series name the caller and say mTLS
    series = _series(known, "server", "smi_requests_total")
    assert {(s["direction"], s["source_workload"], s["tls"]) for s in series} == {("inbound", "caller", "true")}


def _series(known: KnownTraffic, deployment: str, family: str) -> list[dict[str, str]]:
    import re
    import urllib.request

    ip = next(p["ip"] for p in known.mesh.status()["pods"] if p["deployment"] == deployment)
    with urllib.request.urlopen(f"http://{ip}:15000/metrics", timeout=30) as response:
        text = response.read().decode()
    found = []
    for line in text.splitlines():
        if line.startswith(family + "{"):
            found.append(dict(re.findall(r'(\w+)="([^"]*)"', line[len(family) + 1 : line.rindex("}")])))
    return found


def test_lists_selectors_and_namespaces(known: KnownTraffic) -> None:
    listed = known.api(f"{BASE}/namespaces/{NS}/deployments?window=5m&labelSelector=tier%3Dbackend")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["server"]
    everywhere = known.api(f"{BASE}/deployments?window=5m")
    assert {"caller", "server"} <= {i["metadata"]["name"] for i in everywhere["items"]}
    namespace = known.api(f"{BASE}/namespaces/{NS}?window=5m")
    assert figures(namespace)["success_count"] == OK_REQUESTS
    assert "namespace" not in namespace["metadata"]
    service = known.api(f"{BASE}/namespaces/{NS}/services/server?window=5m")
    assert figures(service)["failure_count"] == FAILED_REQUESTS


def test_the_cli_reads_the_api(known: KnownTraffic) -> None:
    stat = known.mesh.smi("stat", "deploy", "-n", NS, "--window", "5m", "-o", "wide").stdout
    line = next(x for x in stat.splitlines() if x.startswith("server"))
    assert "75.00%" in line and " 30 " in f" {line} " and " 10 " in f" {line} "
    header = stat.splitlines()[0].split()
    assert line.split()[header.index("MTLS")] == "100%"  # smi up runs strict mTLS
    as_json = json.loads(known.mesh.smi("stat", "deploy", "server", "-n", NS, "--window", "5m", "-o", "json").stdout)
    assert figures(as_json)["failure_count"] == FAILED_REQUESTS
    edges = known.mesh.smi("edges", "deploy", "caller", "-n", NS, "--window", "5m").stdout
    assert any(
        "deployment/metrics/caller" in x and "deployment/metrics/server" in x and "client" in x
        for x in edges.splitlines()
    ), edges
    top = known.mesh.smi("top", "deploy", "server", "-n", NS, "--window", "5m", "--count", "1").stdout
    assert "server-routes" in top and "75.00%" in top, top
    missing = known.mesh.smi("stat", "deploy", "nope", "-n", NS, check=False)
    assert missing.returncode == 1 and 'deployments "nope" not found' in missing.stderr


def test_kubectl_discovery_tables_and_errors(known: KnownTraffic) -> None:
    kubectl_available()
    raw = json.loads(known.kubectl("get", "--raw", f"{BASE}/namespaces/{NS}/deployments/caller/edges").stdout)
    assert raw["kind"] == "TrafficMetricsList" and raw["items"]
    resources = known.kubectl("api-resources", "--api-group=metrics.smi-spec.io", "-o", "name").stdout.split()
    assert "trafficmetrics.metrics.smi-spec.io" in resources and "deployments.metrics.smi-spec.io" in resources
    table = known.kubectl("get", "trafficmetrics.metrics.smi-spec.io", "-n", NS).stdout
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P90", "LATENCY_P99", "WINDOW"]
    assert any(r.split()[0] == "caller" for r in rows)
    assert any(r.split()[0] == "server" for r in rows)
    services = known.kubectl("get", "services.metrics.smi-spec.io", "-n", NS).stdout
    assert [r.split()[0] for r in services.splitlines()[1:]] == ["server"]  # services, not workloads
    for plural in ("deployments", "deployment"):
        listed = known.kubectl("get", f"{plural}.metrics.smi-spec.io", "-n", NS).stdout.splitlines()
        assert listed[0].split()[:2] == ["NAME", "SUCCESS"]
        assert sorted(r.split()[0] for r in listed[1:]) == ["caller", "caller-twin", "server"]
    pods = known.kubectl("get", "pods.metrics.smi-spec.io", "-n", NS).stdout.splitlines()[1:]
    assert len(pods) == 3 and all(r.split()[0].startswith(("caller-", "server-")) for r in pods)
    namespaces = known.kubectl("get", "namespaces.metrics.smi-spec.io").stdout.splitlines()[1:]
    assert NS in [r.split()[0] for r in namespaces]
    one = known.kubectl("get", "deployments.metrics.smi-spec.io", "server", "-n", NS, "-o", "json").stdout
    assert json.loads(one)["resource"] == {"kind": "Deployment", "namespace": NS, "name": "server"}
    missing = known.kubectl("get", "--raw", f"{BASE}/namespaces/{NS}/deployments/nope", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr and "nope" in missing.stderr
    bad = known.kubectl("get", "--raw", f"{BASE}/namespaces/{NS}/deployments?window=5s", check=False)
    assert bad.returncode != 0 and "BadRequest" in bad.stderr
    unknown = known.kubectl("get", "--raw", f"{BASE}/widgets", check=False)
    assert unknown.returncode != 0 and "NotFound" in unknown.stderr


def test_status_names_the_metrics_api_and_kubeconfig(known: KnownTraffic) -> None:
    out = known.mesh.smi("status").stdout
    assert str(known.kubeconfig) in out and "metrics API" in out


def test_the_cli_reads_a_cluster_through_a_kubeconfig(known: KnownTraffic) -> None:
    """The cluster path (kubeconfig server and credentials, as kubectl) against the local mesh's kubeconfig."""
    args = ("--kubeconfig", str(known.kubeconfig), "--context", "smi-local")
    stat = known.mesh.smi("stat", "deploy", "server", "-n", NS, "--window", "5m", *args).stdout
    assert "75.00%" in stat
    edges = known.mesh.smi("edges", "deploy", "server", "-n", NS, "--window", "5m", *args).stdout
    assert "deployment/metrics/caller" in edges
    bad = known.mesh.smi("stat", "deploy", "-n", NS, "--context", "no-such-context", "--kubeconfig",
                         str(known.kubeconfig), check=False)  # fmt: skip
    assert bad.returncode == 1 and "kubeconfig" in bad.stderr and "Traceback" not in bad.stderr
