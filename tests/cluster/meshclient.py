"""A proxy's side of the config stream over TLS, with a workload certificate from the installed mesh CA.

The test holds the CA Secret ``smi install`` made (it rendered it), so it signs the client
certificate itself, as the CA would after a TokenReview login.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smi.identity import CertificateAuthority, WorkloadIdentity


def workload_tls(ca_dir: Path, *, namespace: str, service_account: str, pod: str) -> ssl.SSLContext:
    ca = CertificateAuthority.open(ca_dir, trust_domain="cluster.local")
    key = ec.generate_private_key(ec.SECP256R1())
    spiffe = f"spiffe://cluster.local/ns/{namespace}/sa/{service_account}"
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    who = WorkloadIdentity(namespace=namespace, service_account=service_account, pod=pod)
    issued = ca.issue(csr.public_bytes(serialization.Encoding.PEM), identity=who)
    context = ssl.create_default_context(cadata=issued.trust_bundle)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="smi-test-client-") as tmp:
        path = Path(tmp) / "client.pem"
        path.write_bytes(issued.certificate_chain.encode() + key_pem)
        context.load_cert_chain(path)
    return context


class TlsConfigStream:
    """GET /v1/config/stream over TLS (HTTP/1.1, chunked ndjson), collecting every config message."""

    def __init__(self, host: str, port: int, *, context: ssl.SSLContext, namespace: str, pod: str) -> None:
        self.host, self.port, self.context = host, port, context
        self.path = f"/v1/config/stream?namespace={namespace}&pod={pod}"
        self.configs: list[dict[str, Any]] = []
        self.ended = asyncio.Event()
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TlsConfigStream:
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.context, server_hostname="smi-controller.smi-system.svc"
            )
            writer.write(f"GET {self.path} HTTP/1.1\r\nHost: smi-controller\r\n\r\n".encode())
            status = await reader.readline()
            if b" 200 " not in status:
                raise AssertionError(f"config stream answered {status!r}")
            while (await reader.readline()).strip():
                pass  # headers
            while True:  # chunked: size line, data, CRLF
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    break
                chunk = await reader.readexactly(size + 2)
                for line in chunk.splitlines():
                    if line.strip():
                        message = json.loads(line)
                        if message.get("type") == "config":
                            self.configs.append(message)
        except (OSError, asyncio.IncompleteReadError, ValueError, AssertionError) as e:
            self.error = e
        finally:
            self.ended.set()
