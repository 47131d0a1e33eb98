"""Original-destination capture on the real outbound listener, with proxy-init's real iptables rules.

The "pod" namespace (198.18.0.2) runs the sidecar as uid 1337 (its own connections are not
redirected) with a static config; the app is any process of another uid.  The "peer"
namespace (198.18.0.1) holds the test hosts: an unmeshed endpoint of two mesh services
(db: opaque TCP, web: HTTP; cluster IPs in 198.19.0.0/16, which exist nowhere but in the
config) and hosts outside the mesh (egress).  Only 198.18.0.0/15 is used.
"""

from __future__ import annotations

import datetime
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conformance.waiting import wait_until
from smi.proxyconfig import (
    EGRESS_DENY,
    Cluster,
    DeniedNamespace,
    DeniedServices,
    EgressPolicy,
    EgressRule,
    Endpoint,
    HttpMatch,
    OutboundConfig,
    OutboundPort,
    OutboundService,
    ProxyConfig,
    ProxyNode,
    SplitRoute,
    WeightedCluster,
    encode,
)
from tests.capture.conftest import DEADLINE, HERE, PEER_IP, POD_IP, Net

pytestmark = pytest.mark.netns

APP_UID = 1000
PROXY_UID = 1337
DB_VIP, WEB_VIP, SECRET_VIP = "198.19.0.10", "198.19.0.11", "198.19.0.12"
RPC_VIP, ANY_VIP = "198.19.0.13", "198.19.0.14"  # rpc: http2 port, h2c endpoint; any: ports that declare nothing
SHOP_VIP = "198.19.0.15"  # shop: http2 port, h2c endpoints, a TrafficSplit sending /canary to shop-v2
LEGACY_VIP = "198.19.0.16"  # legacy: a tcp port whose endpoint speaks HTTP/1.1
ECHO_PORT, WEB_PORT, TLS_PORT, OUTSIDE_HTTP_PORT, H2C_PORT = 9091, 9092, 9443, 9093, 9094


def _service(name: str, vip: str, port: int, protocol: str, target: int) -> tuple[OutboundService, Cluster]:
    cluster = f"default/{name}:{port}"
    service = OutboundService(
        namespace="default", name=name, hostnames=(name, f"{name}.default", vip),
        ports=(OutboundPort(port=port, protocol=protocol, cluster=cluster),),
    )  # fmt: skip
    endpoints = (Endpoint(address=PEER_IP, port=target, pod="peer", namespace="default"),)
    return service, Cluster(cluster, "default", name, port, protocol, endpoints)


def config(egress: EgressPolicy) -> ProxyConfig:
    db, db_cluster = _service("db", DB_VIP, 5432, "tcp", ECHO_PORT)
    web, web_cluster = _service("web", WEB_VIP, 80, "http", WEB_PORT)
    rpc, rpc_cluster = _service("rpc", RPC_VIP, 80, "http2", H2C_PORT)
    banner, banner_cluster = _service("any", ANY_VIP, 5000, "detect", ECHO_PORT)  # the endpoint speaks first
    h2c, h2c_cluster = _service("any", ANY_VIP, 6000, "detect", H2C_PORT)
    anything = OutboundService(namespace="default", name="any", hostnames=banner.hostnames,
                               ports=(*banner.ports, *h2c.ports))  # fmt: skip
    canary = SplitRoute("default/shop-canary", (WeightedCluster("default/shop-v2:80", 1, "shop-v2"),),
                        (HttpMatch("canary", path_regex="/canary.*"),))  # fmt: skip
    shop, shop_cluster = _service("shop", SHOP_VIP, 80, "http2", H2C_PORT)
    shop = replace(shop, ports=(replace(shop.ports[0], splits=(canary,)),))
    _, shop_v2_cluster = _service("shop-v2", SHOP_VIP, 80, "http2", H2C_PORT)
    legacy, legacy_cluster = _service("legacy", LEGACY_VIP, 8080, "tcp", WEB_PORT)
    denied = DeniedServices(namespaces=(DeniedNamespace("default", names=("secret",), cluster_ips=(SECRET_VIP,)),))
    node = ProxyNode(
        namespace="default", pod="app", service_account="app", identity="spiffe://cluster.local/ns/default/sa/app",
        address=POD_IP, workload="app",
    )  # fmt: skip
    outbound = OutboundConfig(
        services=(db, web, rpc, anything, shop, legacy),
        clusters=(
            db_cluster, web_cluster, rpc_cluster, banner_cluster, h2c_cluster, shop_cluster, shop_v2_cluster,
            legacy_cluster,
        ),
        denied=denied,
    )  # fmt: skip
    return ProxyConfig(node=node, outbound=outbound, egress=egress)


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``outside.example`` (signed by it)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "capture test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outside")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("outside.example")]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    for path in paths:
        path.chmod(0o644)
    return paths


class Pod:
    def __init__(self, net: Net, folder: Path) -> None:
        self.net = net
        self.folder = folder
        self.ca, self.cert, self.key = _certificates(folder)

    def start(self, argv: list[str], ns: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.net.processes.append(proc)
        return proc

    def server(self, *args: str) -> None:
        proc = self.start([sys.executable, str(HERE / "_servers.py"), *args], self.net.peer)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
        assert ready and proc.stdout.readline().strip() == "ready", f"test host {args} did not start"

    def sidecar(self, egress: EgressPolicy) -> None:
        path = self.folder / "config.json"
        path.write_text(json.dumps(encode(config(egress))))
        path.chmod(0o644)
        argv = [
            "setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}", "--clear-groups",
            sys.executable, "-m", "smi.cli.main", "proxy", "--config-file", str(path), "--mtls", "off",
            "--outbound", "127.0.0.1:15001", "--inbound", "0.0.0.0:15003", "--admin", "127.0.0.1:15000",
        ]  # fmt: skip
        self.proxy = self.start(argv, self.net.pod)
        wait_until("the sidecar's admin /ready", self.ready, timeout=30, seen=self.proxy_log)

    def ready(self) -> bool:
        if self.proxy.poll() is not None:
            raise AssertionError(f"the sidecar exited: {self.proxy_log()}")
        self.last = self.probe("http", "127.0.0.1", 15000, "/ready", uid=PROXY_UID)
        return self.last.get("status") == 200

    def proxy_log(self) -> str:
        if self.proxy.poll() is None:
            return f"(running) {getattr(self, 'last', None)}"
        _, err = self.proxy.communicate(timeout=DEADLINE)
        return err[-2000:]

    def probe(self, mode: str, host: str, port: int, arg: str = "", *, uid: int = APP_UID) -> dict[str, Any]:
        argv = ["env", f"PROBE_CA={self.ca}", sys.executable, str(HERE / "_probe.py"), mode, host, str(port), str(uid)]
        done = self.net.run(self.net.pod, *argv, *([arg] if arg else []), check=False)
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else json.dumps({"error": done.stderr})
        reply: dict[str, Any] = json.loads(line)
        reply["raw"] = line
        return reply

    def metrics(self) -> str:
        done = self.net.run(self.net.pod, "python3", "-c", _SCRAPE, check=False)
        return done.stdout


_SCRAPE = (
    "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:15000/metrics', timeout=5).read().decode())"
)


@pytest.fixture
def pod(net: Net) -> Iterator[Pod]:
    folder = Path(tempfile.mkdtemp(prefix="smi-capture-"))  # readable by the sidecar's uid (pytest's is not)
    folder.chmod(0o755)
    net.run(net.pod, "ip", "route", "add", "198.18.0.0/15", "dev", "smi0")  # the cluster IPs route via the veth
    net.smi(net.pod, "proxy-init", "--proxy-uid", str(PROXY_UID))
    pod = Pod(net, folder)
    net.endpoint(net.peer, ECHO_PORT)
    pod.server("http", str(WEB_PORT))
    pod.server("http", str(OUTSIDE_HTTP_PORT))
    pod.server("tls", str(TLS_PORT), str(pod.cert), str(pod.key))
    pod.server("h2c", str(H2C_PORT))
    try:
        yield pod
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_opaque_tcp_and_http_to_mesh_services_are_captured_by_their_cluster_ip(pod: Pod) -> None:
    pod.sidecar(EgressPolicy())
    reply = pod.probe("line", DB_VIP, 5432)
    assert reply.get("listener") == ECHO_PORT, reply  # reached the db endpoint, through the sidecar
    assert reply["peer"] == POD_IP
    reply = pod.probe("http", WEB_VIP, 80, "/books")
    assert reply.get("status") == 200, reply
    assert json.loads(reply["body"])["path"] == "/books"
    metrics = pod.metrics()
    assert "smi_tcp_connections_opened_total{" in metrics and 'destination_service="db"' in metrics
    assert 'destination_service="web"' in metrics


def test_h2c_prior_knowledge_is_captured_into_the_http2_engine(pod: Pod) -> None:
    pod.sidecar(EgressPolicy())
    reply = pod.probe("h2c", RPC_VIP, 80, "/rpc.Call")
    assert reply.get("status") == 200, reply
    assert json.loads(reply["body"]) == {"proto": "h2", "path": "/rpc.Call", "authority": f"{RPC_VIP}:80"}
    # routed per stream: counted as a request on the edge to rpc, not as a TCP connection
    assert _samples(pod.metrics(), "smi_requests_total{", 'destination_service="rpc"')
    assert not _samples(pod.metrics(), "smi_tcp_connections_opened_total{", 'destination_service="rpc"')


def test_ports_that_declare_nothing_detect_http2_and_relay_a_server_first_protocol(pod: Pod) -> None:
    pod.sidecar(EgressPolicy())
    reply = pod.probe("h2c", ANY_VIP, 6000, "/detected")
    assert reply.get("status") == 200 and json.loads(reply["body"])["path"] == "/detected", reply
    reply = pod.probe("line", ANY_VIP, 5000)  # the client waits: after the detection timeout, opaque TCP
    assert reply.get("listener") == ECHO_PORT, reply
    assert _samples(pod.metrics(), "smi_tcp_connections_opened_total{", 'destination_service="any"')
    assert _samples(pod.metrics(), "smi_requests_total{", 'destination_service="any"')  # the h2c stream


def _curl_http2(pod: Pod, url: str) -> tuple[str, str, str]:
    """``curl --http2`` (HTTP/1.1 with ``Upgrade: h2c``) as the app's uid: (HTTP version, status, body)."""
    argv = ["setpriv", f"--reuid={APP_UID}", f"--regid={APP_UID}", "--clear-groups", "curl", "-sS", "--http2",
            "--max-time", "10", "-w", "\n%{http_version} %{http_code}", url]  # fmt: skip
    done = pod.net.run(pod.net.pod, *argv, check=False)
    body, _, last = done.stdout.rpartition("\n")
    version, _, status = last.partition(" ")
    assert done.returncode == 0, f"curl failed ({done.returncode}): {done.stderr}"
    return version, status, body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install -y curl)")
def test_an_h2c_upgrade_is_captured_into_the_http2_engine_and_routed_per_request(pod: Pod) -> None:
    pod.sidecar(EgressPolicy())
    # the split's match sends /canary to shop-v2; the sidecar answered 101 and served the request as HTTP/2
    version, status, body = _curl_http2(pod, f"http://{SHOP_VIP}/canary/x")
    assert (version, status) == ("2", "200"), body
    assert json.loads(body) == {"proto": "h2", "path": "/canary/x", "authority": SHOP_VIP}
    version, status, body = _curl_http2(pod, f"http://{SHOP_VIP}/plain")
    assert (version, status) == ("2", "200"), body
    metrics = pod.metrics()
    canary = _samples(metrics, "smi_requests_total{", 'destination_service="shop"')
    assert any('route="default/shop-canary"' in s and 'backend="shop-v2"' in s for s in canary), canary
    assert any('route=""' in s and 'backend=""' in s for s in canary), canary  # /plain: the root service
    assert not _samples(metrics, "smi_tcp_connections_opened_total{", 'destination_service="shop"')
    # an http port: the app speaks HTTP/1.1, so the upgraded stream reaches it converted to HTTP/1.1
    version, status, body = _curl_http2(pod, f"http://{WEB_VIP}/books")
    assert (version, status) == ("2", "200"), body
    assert json.loads(body)["path"] == "/books"
    # a mesh service this proxy may not call: the same 403, now on the upgraded connection
    version, status, body = _curl_http2(pod, f"http://{SECRET_VIP}/")
    assert (version, status) == ("2", "403") and "no TrafficTarget allows" in body, (version, status, body)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install -y curl)")
def test_an_h2c_upgrade_to_a_tcp_port_is_answered_in_http1(pod: Pod) -> None:
    """The mesh speaks no HTTP/2 on a tcp port: the Upgrade is ignored (RFC 9110 7.8), HTTP/1.1 answers."""
    pod.sidecar(EgressPolicy())
    version, status, body = _curl_http2(pod, f"http://{LEGACY_VIP}:8080/old")
    assert (version, status) == ("1.1", "200"), body  # upgraded, the HTTP/1.1 endpoint could not answer
    assert json.loads(body)["path"] == "/old"


def _samples(metrics: str, start: str, part: str) -> list[str]:
    return [line for line in metrics.splitlines() if line.startswith(start) and part in line]


def test_a_denied_mesh_service_gets_403_for_http_and_a_closed_connection_otherwise(pod: Pod) -> None:
    pod.sidecar(EgressPolicy())
    reply = pod.probe("http", SECRET_VIP, 80, "/")
    assert reply.get("status") == 403, reply
    assert "no TrafficTarget allows" in reply["body"]
    refused = pod.probe("line", SECRET_VIP, 5432)
    assert "error" in refused, refused
    assert "smi_authz_denied_total{" in pod.metrics()


def test_egress_allowed_passes_tcp_http_and_tls_through_untouched(pod: Pod) -> None:
    pod.sidecar(EgressPolicy())  # allow all
    reply = pod.probe("line", PEER_IP, ECHO_PORT)
    assert reply.get("listener") == ECHO_PORT and reply["orig"] is None, reply  # the original destination itself
    reply = pod.probe("http", PEER_IP, OUTSIDE_HTTP_PORT, "/outside")
    assert reply.get("status") == 200 and json.loads(reply["body"])["host"] == f"{PEER_IP}:{OUTSIDE_HTTP_PORT}"
    reply = pod.probe("tls", PEER_IP, TLS_PORT, "outside.example")  # verified end to end: not terminated
    assert reply.get("sni") == "outside.example", reply
    metrics = pod.metrics()
    assert f'smi_egress_connections_total{{destination="{PEER_IP}:{TLS_PORT}",host="",result="allowed"}} 1.0' in metrics


def test_egress_denied_unless_allow_listed_by_host_cidr_or_port(pod: Pod) -> None:
    policy = EgressPolicy(
        mode=EGRESS_DENY,
        allow=(
            EgressRule(hosts=("*.example",), ports=(TLS_PORT,)),
            EgressRule(cidrs=(f"{PEER_IP}/32",), ports=(9093,)),
        ),
    )
    pod.sidecar(policy)
    assert pod.probe("tls", PEER_IP, TLS_PORT, "outside.example").get("sni") == "outside.example"
    assert "error" in pod.probe("tls", PEER_IP, TLS_PORT, "other.test")
    assert pod.probe("http", PEER_IP, OUTSIDE_HTTP_PORT, "/").get("status") == 200
    refused = pod.probe("line", PEER_IP, ECHO_PORT)
    assert "error" in refused, refused
    assert pod.probe("line", DB_VIP, 5432).get("listener") == ECHO_PORT  # mesh services are not egress
    metrics = pod.metrics()
    assert f'destination="{PEER_IP}:{ECHO_PORT}",host="",result="denied"}} 1.0' in metrics
    assert f'destination="{PEER_IP}:{TLS_PORT}",host="other.test",result="denied"}} 1.0' in metrics


def test_the_app_may_still_use_the_listener_as_its_http_proxy(pod: Pod) -> None:
    pod.sidecar(EgressPolicy())
    reply = pod.probe("http", "127.0.0.1", 15001, "http://web.default/x")
    assert reply.get("status") == 200, reply
    assert os.path.basename(json.loads(reply["body"])["path"]) == "x"
