"""A tiny asyncio REST client for the control plane's own writes (the Lease, the caBundles).

In a pod it uses the in-cluster ServiceAccount (token re-read per request: the kubelet
rotates it; the cluster CA from the same directory); ``server=URL`` talks to an API server
without credentials (``kubectl proxy``, or the emulator in tests), like ``smi controller --server``.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER = "https://kubernetes.default.svc"
MERGE_PATCH = "application/merge-patch+json"


class RestError(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {text[:256]}")


class RestClient:
    def __init__(self, *, server: str | None = None, sa_dir: Path = SA_DIR, timeout: float = 10.0) -> None:
        self.server = (server or IN_CLUSTER).rstrip("/")
        self._token_file = None if server else sa_dir / "token"
        ca = sa_dir / "ca.crt"
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca)) if not server and ca.exists() else (not server or True)
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self._token_file is not None:
            try:
                headers["Authorization"] = f"Bearer {self._token_file.read_text().strip()}"
            except OSError:
                pass
        return headers

    async def request(self, method: str, path: str, body: Any = None, *, content_type: str | None = None) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        ctype = content_type or ("application/json" if body is not None else None)
        async with self._session.request(
            method, self.server + path, json=body, headers=self._headers(ctype),
            ssl=self._ssl if self.server.startswith("https") else False,
        ) as response:  # fmt: skip
            text = await response.text()
            if response.status >= 400:
                raise RestError(response.status, text)
            return await response.json(content_type=None) if text else None

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.request("GET", path)
        except RestError as e:
            if e.status == 404:
                return None
            raise
        return found

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> Any:
        return await self.request("PATCH", path, dict(patch), content_type=MERGE_PATCH)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
