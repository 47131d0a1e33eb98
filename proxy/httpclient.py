"""A small HTTP/1.1 client for the sidecar's two control-plane calls (asyncio + httptools).

The sidecar talks to the control plane twice: the config stream (one long-lived GET whose
ndjson body arrives in chunks) and the CA (one POST with a CSR, a JSON answer).  A full
client library costs ~15 MB of an idle sidecar's memory; this is what those calls need:

* one request per connection (``Connection: close``), ``http://`` or ``https://`` (the
  caller's ``SSLContext``, else the system's default verification; the host name is checked
  whenever the context says so);
* the response is parsed by httptools, which undoes chunked transfer encoding and honours
  ``Content-Length``; a body without either ends when the server closes;
* every wait is bounded: connecting (with the TLS handshake), each read, the response head
  (``MAX_HEAD`` bytes) and, for :func:`request`, the body (``max_body``).

Errors: ``OSError`` and ``TimeoutError`` as asyncio raises them; :class:`HttpError` (a
``ConnectionError``) when the answer is not HTTP this client can read.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode, urlsplit

import httptools

MAX_HEAD: Final = 64 * 1024
READ_SIZE: Final = 64 * 1024


class HttpError(ConnectionError):
    """The server's answer is not a usable HTTP/1.1 response."""


@dataclass(frozen=True, slots=True)
class Target:
    secure: bool
    host: str
    port: int
    path: str  # with the query

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str, params: Mapping[str, str] | None = None) -> Target:
    """``http(s)://host[:port]/path?query``; ``params`` are appended to the query."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    secure = parts.scheme == "https"
    query = parts.query
    if params:
        query = "&".join(q for q in (query, urlencode(params)) if q)
    path = (parts.path or "/") + (f"?{query}" if query else "")
    return Target(secure, parts.hostname, parts.port or (443 if secure else 80), path)


class _Parsed:
    """httptools callbacks: the head, then body pieces as they arrive."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.complete = False
        self.pieces: list[bytes] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.pieces.append(bytes(body))

    def on_message_complete(self) -> None:
        self.complete = True


class Response:
    """One response being read: ``status`` and ``headers`` are known, the body is read on demand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, read_timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._parsed = _Parsed()
        self._parser = httptools.HttpResponseParser(self._parsed)
        self._read_timeout = read_timeout
        self._eof = False
        self.status = 0
        self.headers: dict[str, str] = {}

    async def _fill(self) -> int:
        data = await asyncio.wait_for(self._reader.read(READ_SIZE), self._read_timeout)
        if not data:
            self._eof = True
            return 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            if not self._parsed.complete:  # bytes after the response (one request per connection) are ignored
                raise HttpError(f"unreadable HTTP response: {e}") from e
        return len(data)

    async def _read_head(self) -> None:
        seen = 0
        while not self._parsed.head_done:
            if self._eof:
                raise HttpError("the connection closed before the response head")
            seen += await self._fill()
            if not self._parsed.head_done and seen > MAX_HEAD:
                raise HttpError(f"the response head is longer than {MAX_HEAD} bytes")
        self.status = self._parser.get_status_code()
        self.headers = self._parsed.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (transfer encoding undone), until its end or the server closes."""
        parsed = self._parsed
        while True:
            if parsed.pieces:
                data = b"".join(parsed.pieces)
                parsed.pieces.clear()
                yield data
            if parsed.complete or self._eof:
                return
            await self._fill()

    async def body(self, *, limit: int) -> bytes:
        """The whole body; :class:`HttpError` past ``limit`` bytes."""
        out = bytearray()
        async for data in self.chunks():
            out += data
            if len(out) > limit:
                raise HttpError(f"the response body is longer than {limit} bytes")
        return bytes(out)

    def close(self) -> None:
        self._writer.close()


async def open_request(
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    context: ssl.SSLContext | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
) -> Response:
    """Send one request and read the response head; the caller reads the body and closes."""
    target = parse_url(url, params)
    tls: ssl.SSLContext | None = None
    if target.secure:
        tls = context if context is not None else ssl.create_default_context()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            target.host, target.port, ssl=tls, server_hostname=target.host if tls is not None else None,
            limit=READ_SIZE,
        ),
        connect_timeout,
    )  # fmt: skip
    response = Response(reader, writer, read_timeout=read_timeout)
    try:
        lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.authority}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await response._read_head()
    except BaseException:
        response.close()
        raise
    return response


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


async def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    context: ssl.SSLContext | None = None,
    seconds: float = 10.0,
    max_body: int = 1024 * 1024,
) -> Reply:
    """One whole request and response within ``seconds``."""

    async def exchange() -> Reply:
        response = await open_request(
            method, url, headers=headers, body=body, context=context, connect_timeout=seconds, read_timeout=seconds
        )
        try:
            return Reply(response.status, response.headers, await response.body(limit=max_body))
        finally:
            response.close()

    return await asyncio.wait_for(exchange(), seconds)
