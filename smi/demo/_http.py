"""A tiny HTTP client that goes through ``HTTP_PROXY`` with a kept-alive connection.

The demo clients use it instead of ``urllib`` so that every request reuses one connection to
the sidecar (``urllib`` opens a new one per request).  It honours ``HTTP_PROXY`` /
``http_proxy``; without a proxy it connects straight to the URL's host.
"""

from __future__ import annotations

import http.client
import os
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str


class Client:
    def __init__(self, *, timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._proxy = os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy") or ""

    def get(self, url: str, *, headers: dict[str, str] | None = None) -> Answer:
        """GET ``url``; connection errors come back as status 0 with the error text as body."""
        try:
            return self._get(url, headers or {})
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Answer(0, f"{type(exc).__name__}: {exc}")

    def _get(self, url: str, headers: dict[str, str]) -> Answer:
        parts = urllib.parse.urlsplit(url)
        if self._conn is None:
            target = urllib.parse.urlsplit(self._proxy) if self._proxy else parts
            self._conn = http.client.HTTPConnection(
                target.hostname or "127.0.0.1", target.port or 80, timeout=self._timeout
            )
        path = url if self._proxy else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn.request("GET", path, headers={"Host": parts.netloc, **headers})
        response = self._conn.getresponse()
        body = response.read().decode("utf-8", "replace").strip()
        if response.getheader("connection", "").lower() == "close":
            self.close()
        return Answer(response.status, body)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
