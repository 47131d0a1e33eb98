"""HTTP/2 requests reach tap: grpcio and ``curl --http2-prior-knowledge`` through ``smi up`` (strict mTLS).

The test process plays the buyer app (it dials the buyer pod's outbound listener with the
echo service as ``:authority``, as in tests/http2/test_grpc_runtime.py) while two tap
streams are open on the local runtime's tap endpoint: the buyer's (outbound side) and
echo's (inbound side).  Each call shows up with its method, path and status and the right
workloads and identities on both sides; a request the TrafficTarget does not allow shows
as the mesh's 403 with the rule that refused it.
"""

from __future__ import annotations

import http.client
import json
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.http2 import grpc_app
from tests.http2.test_grpc_runtime import ECHO, IDLE, deployment, first_answer
from tests.runtime.harness import Mesh

pytestmark = pytest.mark.timeout(300)

NS = "h2tap"
AUTHORITY = f"echo.{NS}:50051"
BUYER_ID = f"spiffe://cluster.local/ns/{NS}/sa/buyer"
ECHO_ID = f"spiffe://cluster.local/ns/{NS}/sa/echo"
MANIFESTS = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: buyer, namespace: {NS}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: echo, namespace: {NS}}}
---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: {NS}}}
spec:
  selector: {{app: echo}}
  ports: [{{name: grpc, port: 50051, targetPort: 50051}}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: echo-routes, namespace: {NS}}}
spec:
  matches:
    - {{name: echo-calls, pathRegex: "/test\\\\.Echo/.*", methods: [POST]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: buyer-to-echo, namespace: {NS}}}
spec:
  destination: {{kind: ServiceAccount, name: echo, namespace: {NS}}}
  rules:
    - {{kind: HTTPRouteGroup, name: echo-routes, matches: [echo-calls]}}
  sources:
    - {{kind: ServiceAccount, name: buyer, namespace: {NS}}}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    work = tmp_path_factory.mktemp("h2tap")
    folder = work / "manifests"
    folder.mkdir()
    env = '            - {name: NAME, value: echo}\n            - {name: PORT, value: "50051"}\n'
    ports = "          ports: [{containerPort: 50051}]\n"
    text = MANIFESTS + deployment("echo", "echo", ECHO, "{app: echo}", env, ports)
    text += deployment("buyer", "buyer", IDLE, "{app: buyer}")
    (folder / "all.yaml").write_text(text.replace("namespace: shop", f"namespace: {NS}"))
    mesh = Mesh(manifests=folder, work=work)
    try:
        try:
            mesh.wait_ready(["echo", "buyer"], limit=90)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{mesh.smi('status').stdout}\n{mesh.output()[-3000:]}") from None
        yield mesh
    finally:
        mesh.close()


class Tap:
    """One ndjson stream from ``smi up``'s tap endpoint (subscribed at the sidecars once its head arrived)."""

    def __init__(self, mesh: Mesh, deployment_name: str) -> None:
        url = urlsplit(mesh.info.control_url)
        self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        self.conn.request("GET", f"/apis/tap.smi-mesh.io/v1alpha1/namespaces/{NS}/deployments/{deployment_name}/tap")
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()

    def find(self, wanted: Callable[[dict[str, Any]], bool], *, limit: int = 200) -> dict[str, Any]:
        """The first event ``wanted`` accepts (within ``limit`` events; each line within the socket timeout)."""
        seen = []
        for _ in range(limit):
            line = self.response.readline()
            assert line, f"the tap stream ended; saw {seen}"
            event: dict[str, Any] = json.loads(line)
            if wanted(event):
                return event
            seen.append((event["direction"], event["method"], event["path"], event["status"]))
        raise AssertionError(f"no such event among {seen}")

    def close(self) -> None:
        self.conn.close()


def curl(mesh: Mesh, *args: str) -> str:
    buyer = mesh.pods("buyer")[0]["ip"]
    done = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--http2-prior-knowledge",
         "--noproxy", "*", "--max-time", "20", "--connect-to", f"echo.{NS}:50051:{buyer}:15001", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.stdout


def test_grpc_and_curl_http2_calls_reach_tap_with_method_path_status_and_workloads(mesh: Mesh, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian curl)")
    echo = grpc_app.Echo(grpc_app.channel(f"{mesh.pods('buyer')[0]['ip']}:15001", AUTHORITY))
    first_answer(echo)  # the config has reached both sidecars
    outbound, inbound = Tap(mesh, "buyer"), Tap(mesh, "echo")
    try:
        assert echo.unary(b"tapped", timeout=10) == b"echo:tapped"
        for tap, direction in ((outbound, "outbound"), (inbound, "inbound")):
            event = tap.find(lambda e, d=direction: e["path"] == "/test.Echo/Unary" and e["direction"] == d)
            assert (event["method"], event["status"], event["tls"]) == ("POST", 200, True), event
            assert (event["source_namespace"], event["source_identity"]) == (NS, BUYER_ID), event
            assert (event["destination_workload"], event["destination_identity"]) == ("echo", ECHO_ID), event
            if direction == "outbound":
                assert event["source_workload"] == "buyer", event

        frame = tmp_path / "frame"
        frame.write_bytes(b"\x00" + struct.pack(">I", 5) + b"curl!")  # one uncompressed gRPC message
        grpc_call = ["-X", "POST", "-H", "content-type: application/grpc", "-H", "te: trailers",
                     "--data-binary", f"@{frame}", f"http://{AUTHORITY}/test.Echo/Unary"]  # fmt: skip
        assert curl(mesh, *grpc_call) == "200 2"
        event = inbound.find(lambda e: e["path"] == "/test.Echo/Unary" and e["direction"] == "inbound")
        assert (event["method"], event["status"], event["source_identity"]) == ("POST", 200, BUYER_ID), event

        assert curl(mesh, f"http://{AUTHORITY}/books/1") == "403 2"  # GET: no TrafficTarget allows it
        denied = inbound.find(lambda e: e["path"] == "/books/1")
        assert (denied["method"], denied["status"], denied["rule"]) == ("GET", 403, "denied"), denied
        assert denied["destination_workload"] == "echo" and denied["source_identity"] == BUYER_ID
        seen = outbound.find(lambda e: e["path"] == "/books/1")
        assert (seen["method"], seen["status"], seen["source_workload"]) == ("GET", 403, "buyer"), seen
    finally:
        outbound.close()
        inbound.close()
