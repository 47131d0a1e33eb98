"""Client of the control plane's config stream (protocol in ``smi.proxyconfig``'s docstring).

One long-lived GET; each ``{"type": "config"}`` line is decoded and swapped in; heartbeats
keep the read timeout from firing.  When the stream cannot be opened or breaks, the last
good config stays active and the client reconnects with exponential backoff and jitter
(the delay resets after a config arrives).  An invalid message is counted and logged and
changes nothing.

With mTLS the stream is HTTPS: ``tls`` returns the client context for each attempt (built
from the current workload certificate and trust bundle, so a renewed certificate or a
rotated root is used from the next reconnect on); the server identifies the proxy by that
certificate.

The client is ``proxy.httpclient`` (asyncio + httptools; the control plane streams the
ndjson chunked): no client library in the sidecar.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from proxy import httpclient
from proxy.holder import ConfigHolder
from smi.proxyconfig import ProxyConfig, decode
from smi.proxyconfig.backoff import backoff_delay

logger = logging.getLogger(__name__)

STREAM_PATH = "/v1/config/stream"
MAX_LINE = 64 * 1024 * 1024


class StreamError(Exception):
    """The stream answered, but not with a usable config stream."""


def stream_url(base: str) -> str:
    """``http://cp:15010`` -> ``http://cp:15010/v1/config/stream``; a URL with a path is kept."""
    parts = urlsplit(base)
    if parts.path not in ("", "/"):
        return base
    return base.rstrip("/") + STREAM_PATH


def apply_message(line: bytes, holder: ConfigHolder) -> bool:
    """Handle one ndjson line; True when a config was applied."""
    line = line.strip()
    if not line:
        return False
    try:
        message: Any = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("a message must be a JSON object")
        kind = message.get("type")
        if kind != "config":
            return False
        version = message.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"version must be an integer, got {version!r}")
        config = decode(ProxyConfig, message.get("config"))
    except (ValueError, TypeError, KeyError) as e:
        holder.metrics.config_rejected += 1
        logger.warning("config stream: message rejected, keeping the last good config: %s", e)
        return False
    holder.swap(config, version=version)
    return True


class ConfigStreamClient:
    def __init__(
        self,
        *,
        url: str,
        namespace: str,
        pod: str,
        holder: ConfigHolder,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        read_timeout: float = 30.0,
        tls: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        self.url = stream_url(url)
        self.namespace = namespace
        self.pod = pod
        self.holder = holder
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.read_timeout = read_timeout
        self.attempts = 0
        self.tls = tls

    def next_delay(self, failures: int) -> float:
        """The sleep after ``failures`` failed attempts in a row: equal jitter over an exponential delay."""
        return backoff_delay(failures, initial=self.backoff_initial, cap=self.backoff_max, jitter=0.5)

    async def run(self) -> None:
        failures = 0
        while True:
            self.attempts += 1
            try:
                if await self._stream_once():
                    failures = 0
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, StreamError, ValueError) as e:
                logger.warning("config stream %s unavailable (%r); keeping the last good config", self.url, e)
            finally:
                self.holder.metrics.config_stream_up = 0
            failures += 1
            await asyncio.sleep(self.next_delay(failures))

    async def _stream_once(self) -> bool:
        params = {"namespace": self.namespace, "pod": self.pod}
        applied = False
        response = await httpclient.open_request(
            "GET", self.url, params=params, headers={"Accept": "application/x-ndjson"},
            context=self.tls() if self.tls is not None else None, connect_timeout=5.0,
            read_timeout=self.read_timeout,
        )  # fmt: skip
        try:
            if response.status != 200:
                try:
                    text = (await response.body(limit=4096)).decode(errors="replace")[:256]
                except (OSError, TimeoutError):
                    text = ""
                raise StreamError(f"HTTP {response.status}: {text}")
            self.holder.metrics.config_stream_up = 1
            buffer = b""
            async for chunk in response.chunks():
                buffer += chunk
                while (cut := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:cut], buffer[cut + 1 :]
                    applied = apply_message(line, self.holder) or applied
                if len(buffer) > MAX_LINE:
                    raise StreamError(f"a message is longer than {MAX_LINE} bytes")
            if buffer:
                applied = apply_message(buffer, self.holder) or applied
        finally:
            response.close()
        logger.info("config stream %s ended; reconnecting", self.url)
        return applied
