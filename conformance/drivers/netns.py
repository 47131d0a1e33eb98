"""What the local driver needs when ``smi up`` runs with ``--isolation netns`` (root only).

* ``get_json_in(ns, host, port, target)``: an HTTP GET made from inside a pod's network
  namespace (the driver asks the tool app on its pod address from inside that pod, as
  ``kubectl exec`` would; from outside, the pod address is not even routable);
* ``OutsideHost``: a host *outside the mesh* on the runtime's bridge, in a namespace of its
  own (``<prefix>-out-<n>``, address from 198.19.128.0/17, which the runtime never
  allocates), running the conformance server; it also makes calls that skip every sidecar.
  The runtime's own cleanup sweeps it too (same prefix).
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from conformance.waiting import wait_until
from smi.runtime import netns
from smi.runtime.isolation import run_prefix

__all__ = ["OutsideHost", "get_json_in", "http_get_in", "run_prefix"]

OUTSIDE_PORT = 8080
OUTSIDE_TLS_PORT = 8443


def http_get_in(ns: str, host: str, port: int, target: str, *, timeout: float) -> tuple[int, bytes]:
    """``(status, body)`` of a GET made from inside ``ns``; raises OSError when there is no answer."""
    sock = netns.socket_in(ns)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as e:
        raise ConnectionError(f"no HTTP answer from {host}:{port}: {e!r}") from e
    finally:
        sock.close()


def get_json_in(ns: str, host: str, port: int, target: str, *, timeout: float) -> dict[str, Any]:
    status, body = http_get_in(ns, host, port, target, timeout=timeout)
    if status != 200:
        raise ConnectionError(f"{host}:{port}{target} answered {status}: {body[:200]!r}")
    answer: dict[str, Any] = json.loads(body)
    return answer


class OutsideHost:
    """A host outside the mesh, on the mesh's bridge: the conformance server at ``address:8080``
    and a TLS server (``conformance.apps.tlsline``) at ``address:8443`` whose certificate's
    SHA-256 is ``certificate_sha256``."""

    def __init__(self, *, prefix: str, name: str, address: str) -> None:
        self.address = address
        self.fabric = netns.Fabric(prefix)
        self.name = name
        self.folder = Path(tempfile.mkdtemp(prefix="smi-outside-"))
        cert, key, self.certificate_sha256 = _self_signed(self.folder, name)
        self.ns = self.fabric.add(name, address)
        env = {**os.environ, "POD_IP": address, "PORT": str(OUTSIDE_PORT), "WORKLOAD": f"outside-{name}"}
        prefix_argv = [*netns.exec_prefix(self.ns), sys.executable, "-m"]
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen([*prefix_argv, "conformance.apps.server"], env=env, **quiet)
        tls_env = {**env, "PORT": str(OUTSIDE_TLS_PORT)}
        self.tls = subprocess.Popen(
            [*prefix_argv, "conformance.apps.tlsline", str(cert), str(key)], env=tls_env, **quiet
        )
        try:
            wait_until(f"outside host {address} to listen", self._listening, timeout=30)
        except BaseException:
            self.close()
            raise

    def _listening(self) -> bool:
        try:
            status, _ = http_get_in(self.ns, self.address, OUTSIDE_PORT, "/", timeout=2)
            sock = netns.socket_in(self.ns)
            try:
                sock.settimeout(2)
                sock.connect((self.address, OUTSIDE_TLS_PORT))  # the TLS server accepts too
            finally:
                sock.close()
        except OSError:
            return False
        return status == 200

    def call(self, address: str, port: int, target: str = "/") -> tuple[int, str]:
        """A plain GET from this host to ``address:port``, skipping every sidecar; (0, why) without an answer."""
        try:
            status, body = http_get_in(self.ns, address, port, target, timeout=5)
        except OSError as e:
            return 0, str(e) or type(e).__name__
        return status, body.decode("utf-8", "replace")

    def close(self) -> None:
        for process in (self.process, self.tls):
            if process.poll() is None:
                process.kill()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.fabric.remove(self.name)
        shutil.rmtree(self.folder, ignore_errors=True)


def _self_signed(folder: Path, name: str) -> tuple[Path, Path, str]:
    """A throwaway self-signed certificate for ``<name>.outside.example``: (cert, key, SHA-256 of its DER)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.outside.example")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert, key_path = folder / "tls.crt", folder / "tls.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return cert, key_path, hashlib.sha256(der).hexdigest()
