"""Unit tests of the local runtime's pure pieces: address plan, backoff, pod synthesis, environment."""

from __future__ import annotations

import random
import re
import sys
from dataclasses import replace

import pytest

from smi.model import (
    Container,
    ContainerPort,
    Deployment,
    EnvVar,
    ObjectMeta,
    PodSpec,
    Service,
    ServicePort,
)
from smi.runtime import pods
from smi.runtime.addresses import AddressAllocator, AddressError
from smi.runtime.backoff import Backoff
from smi.runtime.environment import (
    app_argv,
    app_environment,
    env_name,
    expand,
    plan_forwards,
    sidecar_argv,
)


def deployment(**changes: object) -> Deployment:
    base = Deployment(
        meta=ObjectMeta(name="web", namespace="shop"),
        replicas=2,
        selector={"app": "web"},
        template_labels={"app": "web"},
        template=PodSpec(
            service_account="web-sa",
            containers=(
                Container(
                    name="app",
                    command=("python", "-m", "server"),
                    args=("--listen", "$(POD_IP):8080", "$(UNKNOWN)"),
                    env=(
                        EnvVar("GREETING", "hi"),
                        EnvVar("MY_IP", field_ref="status.podIP"),
                        EnvVar("MY_NAME", field_ref="metadata.name"),
                        EnvVar("MY_NS", field_ref="metadata.namespace"),
                        EnvVar("MY_SA", field_ref="spec.serviceAccountName"),
                        EnvVar("BOTH", "$(GREETING)-$(MY_NS)"),
                    ),
                    ports=(ContainerPort(8080, name="http"),),
                ),
            ),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_addresses_are_distinct_loopback_and_never_reused() -> None:
    alloc = AddressAllocator("127.42.0.0")
    got = [alloc.allocate() for _ in range(300)]
    assert got[0] == "127.42.0.2" and got[1] == "127.42.0.3"
    assert got[299] == "127.42.1.45"
    assert len(set(got)) == 300
    assert alloc.runtime_address == "127.42.0.1"


@pytest.mark.parametrize("base", ["10.0.0.0", "not-an-ip", "192.168.1.1"])
def test_address_base_outside_loopback_is_refused(base: str) -> None:
    with pytest.raises(AddressError, match="address base"):
        AddressAllocator(base)


def test_backoff_doubles_to_a_cap_and_resets_after_healthy_running() -> None:
    policy = Backoff()
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.failures_after(previous=5, ran_for=3.0) == 6
    assert policy.failures_after(previous=5, ran_for=61.0) == 1


def test_pod_names_follow_the_replicaset_pattern_and_track_the_template() -> None:
    d = deployment()
    name = pods.pod_name(d, rng=random.Random(7))
    assert re.fullmatch(r"web-[0-9a-f]{10}-[a-z0-9]{5}", name)
    assert pods.template_hash(d) == pods.template_hash(replace(d, replicas=5))
    edited = replace(d, template=replace(d.template, service_account="other"))
    assert pods.template_hash(edited) != pods.template_hash(d)


def test_a_synthesized_pod_is_meshed_at_its_address_and_belongs_to_its_deployment() -> None:
    d = deployment()
    pod = pods.synthesize(d, name="web-0123456789-abcde", pod_ip="127.42.0.9")
    assert pod.meta.annotations["smi-mesh.io/inbound-port"] == "15003"
    assert pod.meta.annotations["smi-mesh.io/app-address"] == "127.42.0.9"
    assert pod.meta.labels["app"] == "web"
    assert pod.spec.service_account == "web-sa"
    assert (pod.phase, pod.ready) == ("Pending", False)
    assert pods.is_current(pod, d)
    edited = replace(d, template=replace(d.template, service_account="other"))
    assert pods.owned_by(pod, edited) and not pods.is_current(pod, edited)


def test_the_app_environment_fills_the_downward_api_and_points_at_the_sidecar() -> None:
    d = deployment()
    pod = pods.synthesize(d, name="web-0123456789-abcde", pod_ip="127.42.0.9")
    env, warnings = app_environment(
        pod=pod,
        container=pod.spec.containers[0],
        forwards=(),
        inherited={"PATH": "/bin", "HTTPS_PROXY": "http://corp:3128", "no_proxy": "corp"},
    )
    assert warnings == []
    assert env["MY_IP"] == env["POD_IP"] == "127.42.0.9"
    assert env["MY_NAME"] == "web-0123456789-abcde"
    assert env["MY_NS"] == "shop"
    assert env["MY_SA"] == "web-sa"
    assert env["BOTH"] == "hi-shop"
    assert env["HTTP_PROXY"] == env["http_proxy"] == "http://127.42.0.9:15001"
    assert env["NO_PROXY"] == env["no_proxy"] == "127.42.0.9"
    assert env["PATH"] == "/bin" and "HTTPS_PROXY" not in env
    argv = app_argv(pod.spec.containers[0], env)
    assert argv == [sys.executable, "-m", "server", "--listen", "127.42.0.9:8080", "$(UNKNOWN)"]


def test_an_unsupported_field_ref_is_a_warning_not_a_crash() -> None:
    d = deployment()
    container = replace(d.template.containers[0], env=(EnvVar("X", field_ref="status.nonsense"),))
    pod = pods.synthesize(d, name="web-0123456789-abcde", pod_ip="127.42.0.9")
    env, warnings = app_environment(pod=pod, container=container, forwards=(), inherited={})
    assert env["X"] == ""
    assert warnings and "env X: fieldRef status.nonsense is not supported" in warnings[0]


def test_tcp_services_of_the_pods_namespace_get_forward_listeners_and_env() -> None:
    pod = pods.synthesize(deployment(), name="web-0123456789-abcde", pod_ip="127.42.0.9")
    services = [
        Service(meta=ObjectMeta(name="redis-cache", namespace="shop"), ports=(ServicePort(6379, name="tcp-redis"),)),
        Service(meta=ObjectMeta(name="db", namespace="shop"), ports=(ServicePort(5432, app_protocol="tcp"),)),
        Service(meta=ObjectMeta(name="web", namespace="shop"), ports=(ServicePort(80, name="http"),)),
        Service(meta=ObjectMeta(name="elsewhere", namespace="other"), ports=(ServicePort(1, name="tcp"),)),
        Service(meta=ObjectMeta(name="vault", namespace="shop"), ports=(ServicePort(8200),)),  # says nothing: detect
    ]
    forwards = plan_forwards(pod, services)
    assert [f.flag for f in forwards] == [
        "127.42.0.9:15100=db.shop:5432",
        "127.42.0.9:15101=redis-cache.shop:6379",
        "127.42.0.9:15102=vault.shop:8200",
    ]
    env, _ = app_environment(pod=pod, container=pod.spec.containers[0], forwards=forwards, inherited={})
    assert env["DB_SERVICE_HOST"] == "127.42.0.9" and env["DB_SERVICE_PORT"] == "15100"
    assert env["REDIS_CACHE_SERVICE_PORT"] == "15101"
    assert env["REDIS_CACHE_SERVICE_PORT_TCP_REDIS"] == "15101"
    assert "WEB_SERVICE_HOST" not in env and "ELSEWHERE_SERVICE_HOST" not in env
    argv = sidecar_argv(pod=pod, control_plane="http://127.42.0.1:9", forwards=forwards)
    assert argv[argv.index("--inbound") + 1] == "127.42.0.9:15003"
    assert argv[argv.index("--outbound") + 1] == "127.42.0.9:15001"
    assert argv[argv.index("--admin") + 1] == "127.42.0.9:15000"
    assert argv.count("--forward") == 3


def test_env_names_and_expansion_follow_kubernetes() -> None:
    assert env_name("my-svc.x") == "MY_SVC_X"
    assert expand("$(A)/$(B)/$$(A)", {"A": "1"}) == "1/$(B)/$1"
