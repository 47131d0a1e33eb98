"""Endpoint resolution: EndpointSlice vs Endpoints vs selector, target ports, readiness, identity."""

from __future__ import annotations

from smi import model as m
from smi.compile import MeshIndex, MeshSettings
from smi.compile.endpoints import service_endpoints
from tests.compile.builders import meta, pod, service
from tests.compile.manifests import snapshot_of

WEB = (m.ContainerPort(8080, "web"),)


def endpoints_of(objects: list[m.Resource], name: str) -> dict[int, list[tuple[str, int, str]]]:
    index = MeshIndex(snapshot_of(objects), MeshSettings())
    svc = index.services[("default", name)]
    return {port: [(e.address, e.port, e.pod) for e in eps] for port, eps in service_endpoints(index, svc).items()}


def test_selector_picks_ready_or_running_pods_with_an_ip() -> None:
    objects: list[m.Resource] = [
        service("web", selector={"app": "web"}),
        pod("ready", ip="10.0.0.1", labels={"app": "web"}, ports=WEB),
        pod("running-not-ready", ip="10.0.0.2", labels={"app": "web"}, ports=WEB, ready=False),
        pod("pending", ip="10.0.0.3", labels={"app": "web"}, ports=WEB, ready=False, phase="Pending"),
        pod("no-ip", ip=None, labels={"app": "web"}, ports=WEB),
        pod("other-app", ip="10.0.0.5", labels={"app": "db"}, ports=WEB),
        pod("other-ns", ip="10.0.0.6", ns="elsewhere", labels={"app": "web"}, ports=WEB),
    ]
    assert endpoints_of(objects, "web") == {80: [("10.0.0.1", 8080, "ready"), ("10.0.0.2", 8080, "running-not-ready")]}


def test_named_target_port_resolves_per_pod_and_skips_pods_without_it() -> None:
    ports = (m.ServicePort(port=80, name="http", target_port="web"), m.ServicePort(port=81, name="same"))
    objects: list[m.Resource] = [
        service("web", selector={"app": "web"}, ports=ports),
        pod("a", ip="10.0.0.1", labels={"app": "web"}, ports=(m.ContainerPort(8080, "web"),)),
        pod("b", ip="10.0.0.2", labels={"app": "web"}, ports=(m.ContainerPort(9090, "web"),)),
        pod("c", ip="10.0.0.3", labels={"app": "web"}, ports=(m.ContainerPort(7000, "other"),)),
    ]
    assert endpoints_of(objects, "web") == {
        80: [("10.0.0.1", 8080, "a"), ("10.0.0.2", 9090, "b")],
        81: [("10.0.0.1", 81, "a"), ("10.0.0.2", 81, "b"), ("10.0.0.3", 81, "c")],
    }


def test_endpoints_object_beats_selector_and_drops_not_ready_addresses() -> None:
    objects: list[m.Resource] = [
        service("web", selector={"app": "web"}),
        pod("a", ip="10.0.0.1", labels={"app": "web"}, ports=WEB),
        m.Endpoints(
            meta=meta("web"),
            subsets=(
                (
                    (m.EndpointAddress("10.0.0.9", pod="a"), m.EndpointAddress("10.0.0.8", ready=False)),
                    (m.EndpointPort(8181, "http"),),
                ),
            ),
        ),
    ]
    assert endpoints_of(objects, "web") == {80: [("10.0.0.9", 8181, "a")]}


def test_endpoint_slices_beat_endpoints_and_match_ports_by_name() -> None:
    ports = (m.ServicePort(port=80, name="http"), m.ServicePort(port=90, name="admin"))
    objects: list[m.Resource] = [
        service("web", selector={"app": "web"}, ports=ports),
        pod("a", ip="10.0.0.1", labels={"app": "web"}, ports=WEB),
        m.Endpoints(meta=meta("web"), subsets=(((m.EndpointAddress("10.0.0.9"),), (m.EndpointPort(1, "http"),)),)),
        m.EndpointSlice(
            meta=meta("web-1", labels={"kubernetes.io/service-name": "web"}),
            service="web",
            endpoints=(m.EndpointAddress("10.0.0.1"),),
            ports=(m.EndpointPort(8080, "http"), m.EndpointPort(9999, "admin")),
        ),
        m.EndpointSlice(
            meta=meta("web-2", labels={"kubernetes.io/service-name": "web"}),
            service="web",
            endpoints=(m.EndpointAddress("10.0.0.2"),),
            ports=(m.EndpointPort(8080, "http"),),
        ),
    ]
    assert endpoints_of(objects, "web") == {
        80: [("10.0.0.1", 8080, "a"), ("10.0.0.2", 8080, "")],
        90: [("10.0.0.1", 9999, "a")],
    }


def test_endpoint_carries_identity_sidecar_port_and_workload() -> None:
    objects: list[m.Resource] = [
        service("web", selector={"app": "web"}),
        pod("meshed", ip="10.0.0.1", sa="web-sa", labels={"app": "web"}, ports=WEB),
        pod("plain", ip="10.0.0.2", sa="web-sa", labels={"app": "web"}, ports=WEB, meshed=False),
        m.Deployment(meta=meta("web-deploy"), selector={"app": "web"}),
    ]
    index = MeshIndex(snapshot_of(objects), MeshSettings(trust_domain="example.org"))
    eps = service_endpoints(index, index.services[("default", "web")])[80]
    assert [(e.pod, e.identity, e.proxy_port, e.workload) for e in eps] == [
        ("meshed", "spiffe://example.org/ns/default/sa/web-sa", 15003, "web-deploy"),
        ("plain", "spiffe://example.org/ns/default/sa/web-sa", 0, "web-deploy"),
    ]


def test_service_without_selector_or_endpoints_has_none() -> None:
    objects: list[m.Resource] = [
        service("manual", selector=None),
        service("empty", selector={}),
        pod("a", ip="10.0.0.1", labels={"app": "web"}),
    ]
    assert endpoints_of(objects, "manual") == {80: []}
    assert endpoints_of(objects, "empty") == {80: []}
