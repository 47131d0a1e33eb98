"""Real gRPC through the local runtime (``smi up``, strict mTLS by default): grpcio client -> the caller
pod's sidecar -> mTLS HTTP/2 (ALPN h2) -> the service pod's sidecar -> grpcio server.

The test process plays the calling app: it dials the caller pod's outbound listener (pod IP,
port 15001) with the service's name as ``:authority``, as an app with its sidecar would.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.http2 import grpc_app
from tests.runtime.harness import Mesh
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

AUTHORITY = "echo.shop:50051"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: buyer, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: echo, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: thief, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: shop}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 50051, targetPort: 50051}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-v1, namespace: shop}
spec:
  selector: {app: echo, version: v1}
  ports: [{name: grpc, port: 50051, targetPort: 50051}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-v2, namespace: shop}
spec:
  selector: {app: echo, version: v2}
  ports: [{port: 50051, targetPort: 50051, appProtocol: grpc}]
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: echo-split, namespace: shop}
spec:
  service: echo
  backends:
    - {service: echo-v1, weight: 50}
    - {service: echo-v2, weight: 50}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: echo-routes, namespace: shop}
spec:
  matches:
    - {name: echo-calls, pathRegex: "/test\\\\.Echo/.*", methods: [POST]}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: buyer-to-echo, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: echo, namespace: shop}
  rules:
    - {kind: HTTPRouteGroup, name: echo-routes, matches: [echo-calls]}
  sources:
    - {kind: ServiceAccount, name: buyer, namespace: shop}
"""


def deployment(name: str, account: str, command: str, labels: str, env: str = "", ports: str = "") -> str:
    return f"""\
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  replicas: 1
  selector: {{matchLabels: {labels}}}
  template:
    metadata: {{labels: {labels}}}
    spec:
      serviceAccountName: {account}
      containers:
        - name: app
          command: {command}
{ports}          env:
            - name: HOST
              valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
{env}"""


IDLE = '[python, -c, "import time; time.sleep(3600)"]'
ECHO = "[python, -m, tests.http2.grpc_app]"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    work = tmp_path_factory.mktemp("grpc")
    folder = work / "manifests"
    folder.mkdir()
    text = MANIFESTS
    for version in ("v1", "v2"):
        env = f"            - {{name: NAME, value: {version}}}\n            - {{name: PORT, value: \"50051\"}}\n"
        labels = f"{{app: echo, version: {version}}}"
        text += deployment(f"echo-{version}", "echo", ECHO, labels, env, "          ports: [{containerPort: 50051}]\n")
    text += deployment("buyer", "buyer", IDLE, "{app: buyer}")
    text += deployment("thief", "thief", IDLE, "{app: thief}")
    (folder / "all.yaml").write_text(text)
    mesh = Mesh(manifests=folder, work=work)
    try:
        try:
            mesh.wait_ready(["echo-v1", "echo-v2", "buyer", "thief"], limit=90)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{mesh.smi('status').stdout}\n{mesh.output()[-3000:]}") from None
        yield mesh
    finally:
        mesh.close()


def ip_of(mesh: Mesh, deployment: str) -> str:
    ip: str = mesh.pods(deployment)[0]["ip"]
    return ip


def echo_from(mesh: Mesh, deployment: str) -> grpc_app.Echo:
    return grpc_app.Echo(grpc_app.channel(f"{ip_of(mesh, deployment)}:15001", AUTHORITY))


def metrics(ip: str) -> list[tuple[str, dict[str, str], float]]:
    with _NO_PROXY.open(f"http://{ip}:15000/metrics", timeout=5) as response:
        text = response.read().decode()
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def first_answer(echo: grpc_app.Echo) -> Any:
    """The config reaches every sidecar a moment after the pods are ready: retry UNAVAILABLE/denied briefly."""

    def attempt() -> bytes | None:
        try:
            answer: bytes = echo.unary(b"hello", timeout=5)
            return answer
        except grpc.RpcError:
            return None

    return wait_for("a first gRPC answer through the mesh", attempt, within=60, every=0.2)


def test_all_kinds_of_calls_pass_over_strict_mtls_and_are_split_by_weight(mesh: Mesh) -> None:
    echo = echo_from(mesh, "buyer")
    first_answer(echo)
    seen = {echo.unary(b"hi", timeout=10) for _ in range(20)}
    assert seen == {b"v1:hi", b"v2:hi"}  # 50/50 split: both backends answer
    streamed = list(echo.server_stream(b"3", timeout=10))
    assert len(streamed) == 3 and streamed[0].split(b":")[0] in (b"v1", b"v2")
    assert echo.client_stream(iter([b"a", b"b"]), timeout=10).endswith(b":a+b")
    assert [m.split(b":")[1] for m in echo.bidi(iter([b"x", b"y", b"z"]), timeout=10)] == [b"x", b"y", b"z"]

    buyer_ip = ip_of(mesh, "buyer")
    samples = metrics(buyer_ip)
    ok = sum(v for n, labels, v in samples if n == "smi_grpc_responses_total" and labels["grpc_status"] == "0")
    assert ok >= 23
    opened = sum(v for n, labels, v in samples
                 if n == "smi_outbound_tls_connections_total" and labels["result"] == "opened")  # fmt: skip
    assert 1 <= opened <= 2  # one multiplexed mTLS connection per peer sidecar
    v1_ip = ip_of(mesh, "echo-v1")
    accepted = sum(v for n, labels, v in metrics(v1_ip)
                   if n == "smi_inbound_tls_connections_total" and labels["result"] == "mtls_accepted")  # fmt: skip
    assert accepted >= 1


def test_a_deadline_and_an_error_status_reach_the_caller_and_errors_count_as_failures(mesh: Mesh) -> None:
    echo = echo_from(mesh, "buyer")
    first_answer(echo)
    with pytest.raises(grpc.RpcError) as late:
        echo.unary(b"sleep:3", timeout=0.3)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(grpc.RpcError) as failed:
        echo.unary(b"fail", timeout=10)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    def failure_counted() -> bool:
        return any(
            n == "smi_grpc_responses_total" and labels["grpc_status"] == "3" and labels["classification"] == "failure"
            and v >= 1
            for n, labels, v in metrics(ip_of(mesh, "buyer"))
        )

    wait_for("the INVALID_ARGUMENT call counted as a failure", failure_counted)


def test_a_caller_no_traffic_target_allows_is_denied(mesh: Mesh) -> None:
    first_answer(echo_from(mesh, "buyer"))
    with pytest.raises(grpc.RpcError) as denied:
        echo_from(mesh, "thief").unary(b"steal", timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


