"""A small asynchronous Kubernetes API client for the metrics server (aiohttp; bearer token, CA).

In a pod: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` with the mounted
ServiceAccount token (re-read on every call: it rotates) and CA.  Errors become
:class:`KubeError` with the path and the reason, never a traceback for the caller.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(Exception):
    status: int = 0  # the API server's HTTP status, when it answered


@dataclass
class Kube:
    url: str
    token_file: Path | None = None
    ca_file: Path | None = None
    timeout: float = 10.0

    @classmethod
    def in_cluster(cls, url: str | None = None) -> Kube:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if url is None:
            if not host:
                raise KubeError("not in a cluster (no KUBERNETES_SERVICE_HOST) and no --api-url given")
            url = f"https://{host}:{port}"
        token = SA_DIR / "token"
        ca = SA_DIR / "ca.crt"
        return cls(url=url, token_file=token if token.exists() else None, ca_file=ca if ca.exists() else None)

    def _ssl(self) -> ssl.SSLContext | bool:
        if self.ca_file is not None and self.url.startswith("https"):
            return ssl.create_default_context(cafile=str(self.ca_file))
        return True

    def _headers(self) -> dict[str, str]:
        if self.token_file is None:
            return {}
        try:
            return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        except OSError as exc:
            raise KubeError(f"cannot read the ServiceAccount token {self.token_file}: {exc.strerror}") from exc

    async def request(self, method: str, path: str, body: Any = None, *, content_type: str | None = None) -> Any:
        """``content_type``: e.g. ``application/merge-patch+json`` for a PATCH (default JSON)."""
        url = self.url.rstrip("/") + path
        headers = {**self._headers(), **({"Content-Type": content_type} if content_type else {})}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.request(method, url, json=body, headers=headers, ssl=self._ssl()) as response,
            ):
                if response.status >= 300:
                    text = (await response.text())[:300]
                    error = KubeError(f"{method} {path}: HTTP {response.status}: {text}")
                    error.status = response.status
                    raise error
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise KubeError(f"{method} {path}: the API server is unreachable: {exc!r}") from exc

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def items(self, path: str) -> list[dict[str, Any]]:
        body = await self.get(path)
        items = body.get("items") if isinstance(body, dict) else None
        return [i for i in items or () if isinstance(i, dict)]
