"""``smi webhook`` as a real process: HTTPS on loopback with a test-made certificate, as the API server calls it."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import select
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REVIEW = (Path(__file__).parent / "admission_review.json").read_bytes()
DEADLINE = 20.0


def make_cert(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smi-controller.smi-system.svc")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("smi-controller.smi-system.svc"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    cert, key = make_cert(tmp_path)
    argv = [sys.executable, "-m", "smi.cli.main", "webhook", "--listen", "127.0.0.1:0"]
    argv += ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--image", "smi-mesh:kind"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
        line = proc.stdout.readline() if ready else ""
        match = re.search(r"https://127\.0\.0\.1:(\d+)", line)
        assert match, f"smi webhook did not start: {line!r}"
        context = ssl.create_default_context(cafile=str(cert))  # the caBundle, as the API server has it
        yield f"https://127.0.0.1:{match.group(1)}", context
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def post(url: str, body: bytes, context: ssl.SSLContext) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, context=context, timeout=DEADLINE) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_api_server_gets_a_patch_over_https(webhook: tuple[str, ssl.SSLContext]) -> None:
    base, context = webhook
    status, answer = post(f"{base}/inject", REVIEW, context)
    assert status == 200
    assert answer["response"]["allowed"] is True and answer["response"]["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(answer["response"]["patch"]))
    sidecar = next(op["value"] for op in ops if op["path"] == "/spec/containers/-")
    assert sidecar["image"] == "smi-mesh:kind"


def test_the_same_server_answers_crd_conversion(webhook: tuple[str, ssl.SSLContext]) -> None:
    base, context = webhook
    review = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {
            "uid": "c1",
            "desiredAPIVersion": "split.smi-spec.io/v1alpha4",
            "objects": [
                {
                    "apiVersion": "split.smi-spec.io/v1alpha2",
                    "kind": "TrafficSplit",
                    "metadata": {"name": "s", "namespace": "default"},
                    "spec": {"service": "web", "backends": [{"service": "web-v1", "weight": 100}]},
                }
            ],
        },
    }
    status, answer = post(f"{base}/convert", json.dumps(review).encode(), context)
    assert status == 200
    assert answer["response"]["uid"] == "c1"
    assert answer["response"]["result"]["status"] == "Success"
    assert answer["response"]["convertedObjects"][0]["apiVersion"] == "split.smi-spec.io/v1alpha4"


def test_plain_http_is_refused_on_the_tls_port(webhook: tuple[str, ssl.SSLContext]) -> None:
    base, _ = webhook
    with pytest.raises(OSError):  # URLError or RemoteDisconnected: no HTTP answer either way
        urllib.request.urlopen(base.replace("https", "http") + "/healthz", timeout=DEADLINE)


def test_missing_tls_files_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smi.cli.main", "webhook", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 2
    assert "--tls-cert-file and --tls-key-file are required" in done.stderr
