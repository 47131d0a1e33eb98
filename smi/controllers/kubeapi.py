"""A minimal Kubernetes REST client for what kopf does not do for us: patching statuses.

It uses the ``kopf.ConnectionInfo`` the operator logged in with (server, CA, token or
client certificate), so both talk to the same API server with the same credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {text[:256]}")  # protect the logs


class KubeApi:
    def __init__(self, info: kopf.ConnectionInfo) -> None:
        self.info = info
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.info.server.startswith("https"):
            return False
        if self.info.insecure:
            return False
        ctx = ssl.create_default_context(
            cafile=str(self.info.ca_path) if self.info.ca_path else None,
            cadata=self.info.ca_data.decode() if isinstance(self.info.ca_data, bytes) else self.info.ca_data,
        )
        if self.info.certificate_path and self.info.private_key_path:
            ctx.load_cert_chain(str(self.info.certificate_path), str(self.info.private_key_path))
        return ctx

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {}
            if self.info.token:
                headers["Authorization"] = f"{self.info.scheme or 'Bearer'} {self.info.token}"
            auth = None
            if self.info.username and self.info.password:
                auth = aiohttp.BasicAuth(self.info.username, self.info.password)
            self._session = aiohttp.ClientSession(
                base_url=self.info.server.rstrip("/") + "/",
                headers=headers,
                auth=auth,
                connector=aiohttp.TCPConnector(ssl=self._ssl()),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        return self._session

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> None:
        session = self._session_now()
        async with session.patch(path.lstrip("/"), json=patch, headers={"Content-Type": MERGE_PATCH}) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, await resp.text())

    async def create(self, path: str, body: Mapping[str, Any]) -> None:
        session = self._session_now()
        async with session.post(path.lstrip("/"), json=body) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, await resp.text())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
