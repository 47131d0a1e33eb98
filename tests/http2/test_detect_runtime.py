"""Protocol detection on ports that declare nothing, through two sidecars with strict mTLS (``smi up``).

The ``vault`` service's port names (greeting, blob, …) and no ``appProtocol`` say nothing, so they compile to
``detect`` and each sidecar decides per connection from the first bytes.  The test
process plays the calling apps: it dials the caller pod's ``--forward`` listeners (the
local runtime's stand-in for capture: one per tcp/detect service port, 15100, 15101, …
in (service, port) order) and its outbound listener.  ``detect_app`` serves: a banner
protocol (server speaks first), an opaque binary echo, the app's own TLS, HTTP/1.1 and
gRPC (h2c).

``buyer`` may use vault's HTTP routes and its TCPRoute; ``thief`` only the HTTP routes, so
its opaque bytes, TLS included, must not reach the app (docs/semantics.md, "Ports that
declare nothing").
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from prometheus_client.parser import text_string_to_metric_families

from tests.http2 import grpc_app
from tests.runtime.harness import Mesh
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

BANNER, ECHO, TLS, HTTP, GRPC = 7001, 7002, 7003, 8080, 50051
FORWARD = {port: 15100 + i for i, port in enumerate(sorted((BANNER, ECHO, TLS, HTTP, GRPC)))}  # vault's only ports
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: bank}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: buyer, namespace: bank}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: vault, namespace: bank}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: thief, namespace: bank}
---
apiVersion: v1
kind: Service
metadata: {name: vault, namespace: bank}
spec:
  selector: {app: vault}
  ports:
    - {name: greeting, port: 7001, targetPort: 7001}
    - {name: blob, port: 7002, targetPort: 7002}
    - {name: secure, port: 7003, targetPort: 7003}
    - {name: web, port: 8080, targetPort: 8080}
    - {name: calls, port: 50051, targetPort: 50051}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: vault-http, namespace: bank}
spec:
  matches:
    - {name: everything, pathRegex: ".*"}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: vault-tcp, namespace: bank}
spec: {matches: {ports: [7001, 7002, 7003]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: buyer-to-vault, namespace: bank}
spec:
  destination: {kind: ServiceAccount, name: vault, namespace: bank}
  rules:
    - {kind: HTTPRouteGroup, name: vault-http}
    - {kind: TCPRoute, name: vault-tcp}
  sources:
    - {kind: ServiceAccount, name: buyer, namespace: bank}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: thief-http-only, namespace: bank}
spec:
  destination: {kind: ServiceAccount, name: vault, namespace: bank}
  rules:
    - {kind: HTTPRouteGroup, name: vault-http}
  sources:
    - {kind: ServiceAccount, name: thief, namespace: bank}
"""


def deployment(name: str, command: str, env: str = "", ports: str = "") -> str:
    return f"""\
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: bank}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      serviceAccountName: {name}
      containers:
        - name: app
          command: {command}
{ports}          env:
            - name: HOST
              valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
{env}"""


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and the vault app's own server certificate for ``vault.bank`` (nothing to do with the mesh's)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "the vault app's own CA")])
    valid = now - datetime.timedelta(minutes=5), now + datetime.timedelta(hours=1)
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vault")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("vault.bank")]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = folder / "ca.pem", folder / "vault.pem", folder / "vault.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class Bank:
    def __init__(self, mesh: Mesh, ca: Path) -> None:
        self.mesh = mesh
        self.ca = ca

    def ip(self, deployment: str) -> str:
        ip: str = self.mesh.pods(deployment)[0]["ip"]
        return ip

    def connect(self, caller: str, port: int) -> socket.socket:
        """A connection to ``caller``'s forward listener for vault's ``port`` (as ``caller``'s app)."""
        return socket.create_connection((self.ip(caller), FORWARD[port]), timeout=15)

    def metrics(self, deployment: str) -> list[tuple[str, dict[str, str], float]]:
        with _NO_PROXY.open(f"http://{self.ip(deployment)}:15000/metrics", timeout=5) as response:
            text = response.read().decode()
        return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]

    def http_get(self, caller: str, path: str) -> tuple[int, dict[str, str]]:
        with self.connect(caller, HTTP) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: vault.bank:8080\r\nConnection: close\r\n\r\n".encode())
            data = read_all(sock)
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        return status, (json.loads(body) if status == 200 else {"text": body.decode("latin-1")})


def read_all(sock: socket.socket | ssl.SSLSocket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def read_line(sock: socket.socket | ssl.SSLSocket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    work = tmp_path_factory.mktemp("detect")
    ca, cert, key = certificates(work)
    folder = work / "manifests"
    folder.mkdir()
    env = "".join(
        f"            - {{name: {k}, value: \"{v}\"}}\n"
        for k, v in (("NAME", "vault"), ("CERT", cert), ("KEY", key), ("BANNER_PORT", BANNER), ("ECHO_PORT", ECHO),
                     ("TLS_PORT", TLS), ("HTTP_PORT", HTTP), ("GRPC_PORT", GRPC))
    )  # fmt: skip
    ports = "          ports: [{containerPort: 7001}, {containerPort: 7002}, {containerPort: 7003}, " \
            "{containerPort: 8080}, {containerPort: 50051}]\n"  # fmt: skip
    idle = '[python, -c, "import time; time.sleep(3600)"]'
    text = MANIFESTS + deployment("vault", "[python, -m, tests.http2.detect_app]", env, ports)
    text += deployment("buyer", idle) + deployment("thief", idle)
    (folder / "all.yaml").write_text(text)
    mesh = Mesh(manifests=folder, work=work)
    try:
        try:
            mesh.wait_ready(["vault", "buyer", "thief"], limit=90)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{mesh.smi('status').stdout}\n{mesh.output()[-3000:]}") from None
        bank = Bank(mesh, ca)
        wait_for("HTTP through the mesh to an undeclared port", lambda: first_http(bank, "buyer"), within=60, every=0.2)
        wait_for("the thief's config too", lambda: first_http(bank, "thief"), within=60, every=0.2)
        yield bank
    finally:
        mesh.close()


def tls_echo(bank: Bank, caller: str) -> bytes | str:
    """A TLS handshake with vault's own TLS server (its CA, its name), then one echoed line; or why not."""
    context = ssl.create_default_context(cafile=str(bank.ca))
    try:
        with context.wrap_socket(bank.connect(caller, TLS), server_hostname="vault.bank") as tls:
            tls.sendall(b"secret\n")
            return read_line(tls)
    except (ssl.SSLError, OSError) as e:
        return f"failed: {e}"


def first_http(bank: Bank, caller: str) -> bool:
    try:
        return bank.http_get(caller, "/first")[0] == 200
    except OSError:
        return False


def inbound_tcp_opened(bank: Bank, source: str) -> float:
    return sum(
        v for n, labels, v in bank.metrics("vault")
        if n == "smi_tcp_connections_opened_total" and labels["direction"] == "inbound"
        and labels["source_identity"].endswith(f"/sa/{source}")
    )  # fmt: skip


def test_http1_and_h2c_on_an_undeclared_port_are_served_as_http(bank: Bank) -> None:
    status, answer = bank.http_get("buyer", "/accounts/1")
    assert status == 200 and answer == {"name": "vault", "path": "/accounts/1", "proto": "HTTP/1.1"}
    via_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://{bank.ip('buyer')}:15001"}))
    with via_proxy.open("http://vault.bank:8080/by-name", timeout=10) as response:
        assert json.loads(response.read())["path"] == "/by-name"
    # h2c (gRPC) by name through the outbound listener, and with prior knowledge through the port's forward
    for address in (f"{bank.ip('buyer')}:15001", f"{bank.ip('buyer')}:{FORWARD[GRPC]}"):
        echo = grpc_app.Echo(grpc_app.channel(address, "vault.bank:50051"))
        assert echo.unary(b"hi", timeout=10) == b"vault:hi"
        assert [m.split(b":")[1] for m in echo.bidi(iter([b"x", b"y"]), timeout=10)] == [b"x", b"y"]
    with pytest.raises(grpc.RpcError) as failed:
        grpc_app.Echo(grpc_app.channel(f"{bank.ip('buyer')}:15001", "vault.bank:50051")).unary(b"fail", timeout=10)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    samples = bank.metrics("vault")
    grpc_ok = sum(v for n, labels, v in samples if n == "smi_grpc_responses_total" and labels["grpc_status"] == "0")
    assert grpc_ok >= 4  # counted as gRPC calls on the inbound side: HTTP/2 was detected and passed on as HTTP/2


def test_opaque_tls_and_a_server_first_banner_on_an_undeclared_port_are_relayed_as_tcp(bank: Bank) -> None:
    before = inbound_tcp_opened(bank, "buyer")
    with bank.connect("buyer", ECHO) as sock:  # an opaque binary protocol
        sock.sendall(b"\x00\xff\x13binary\n")
        assert read_line(sock) == b"\x00\xff\x13binary\n"
    assert tls_echo(bank, "buyer") == b"secret\n"  # the app's own TLS, end to end through both sidecars
    with bank.connect("buyer", BANNER) as sock:  # the client waits: after the detection timeout the banner comes
        assert read_line(sock) == b"220 vault ready\r\n"
        sock.sendall(b"HELO\r\n")
        assert read_line(sock) == b"HELO\r\n"
    assert inbound_tcp_opened(bank, "buyer") >= before + 3  # counted as TCP connections, as on a tcp port


def test_http_routes_alone_let_http_through_but_no_opaque_bytes(bank: Bank) -> None:
    status, answer = bank.http_get("thief", "/accounts/2")
    assert status == 200 and answer["path"] == "/accounts/2"  # the HTTPRouteGroup allows HTTP

    def denied() -> float:
        return sum(v for n, labels, v in bank.metrics("vault")
                   if n == "smi_authz_denied_total" and labels["source_identity"].endswith("/sa/thief"))  # fmt: skip

    before = denied()
    with bank.connect("thief", ECHO) as sock:
        sock.sendall(b"\x00\xffsteal\n")
        assert read_all(sock) == b""  # closed by vault's sidecar: no TCPRoute allows the thief
    assert tls_echo(bank, "thief") != b"secret\n"  # the app's TLS is opaque too: denied
    with bank.connect("thief", BANNER) as sock:
        assert read_all(sock) == b""  # silent client: opaque, denied; the banner never comes
    wait_for("the denials counted on vault's inbound edge", lambda: denied() >= before + 3 or None, within=10)
