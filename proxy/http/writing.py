"""Bytes the HTTP/1.1 core writes itself: local replies, request heads, response heads (pure)."""

from __future__ import annotations

from typing import Final

from proxy.headers import CleanHead

REASONS: Final = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def local_response(status: int, text: str, *, close: bool, headers: bytes = b"") -> bytes:
    """A response the proxy writes itself; ``headers``: extra header lines, each ending in CRLF."""
    body = (text + "\n").encode("utf-8", "replace")
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n"
        f"{'connection: close' + chr(13) + chr(10) if close else ''}"
    )
    return head.encode("latin-1") + headers + b"\r\n" + body


def request_head(
    method: bytes, origin: bytes, url: bytes, clean: CleanHead, authority: bytes | None, chunked: bool, upgrade: bool
) -> bytes:
    """The request head sent upstream: HTTP/1.1, end-to-end headers, Host, re-framing, Upgrade.

    ``origin`` is the target sent (``url`` itself when it was origin-form), ``chunked`` the
    body's re-framing, ``upgrade`` whether the request asks for one.  Positional: per request.
    """
    parts = [method, b" ", origin, b" HTTP/1.1\r\n"]
    absolute = origin is not url and authority is not None and clean.host != authority
    for name, value in clean.headers:
        if absolute and name.lower() == b"host":
            continue
        parts += (name, b": ", value, b"\r\n")
    if (absolute or clean.host is None) and authority is not None:
        parts += (b"host: ", authority, b"\r\n")
    if chunked:
        parts.append(b"transfer-encoding: chunked\r\n")
    if clean.te_trailers:  # the client accepts trailers and the core passes them on: ask for them too
        parts.append(b"te: trailers\r\n")
    if upgrade and clean.upgrade is not None:
        parts += (b"connection: upgrade\r\nupgrade: ", clean.upgrade, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def response_head(status: int, reason: bytes, clean: CleanHead, extra: bytes) -> bytes:
    """A response head for the client: HTTP/1.1, end-to-end headers, then ``extra`` header lines."""
    parts = [b"HTTP/1.1 %d %b\r\n" % (status, reason)]
    for name, value in clean.headers:
        parts += (name, b": ", value, b"\r\n")
    parts += (extra, b"\r\n")
    return b"".join(parts)


# Fields a trailer section may not carry (RFC 9110 section 6.5.1: framing, routing, connection control).
NOT_IN_TRAILERS: Final = frozenset(
    {
        b"content-length", b"transfer-encoding", b"host", b"connection", b"keep-alive", b"proxy-connection",
        b"te", b"trailer", b"upgrade", b"content-encoding", b"content-type", b"content-range",
        b"authorization", b"proxy-authorization", b"set-cookie", b"cookie",
    }
)  # fmt: skip
LAST_CHUNK: Final = b"0\r\n\r\n"


def last_chunk(trailers: list[tuple[bytes, bytes]]) -> bytes:
    """The end of a chunked body carrying ``trailers`` (fields a trailer section may not carry are left out)."""
    lines = [b"%b: %b\r\n" % (n, v) for n, v in trailers if n.lower() not in NOT_IN_TRAILERS]
    return b"0\r\n" + b"".join(lines) + b"\r\n"


__all__ = ["LAST_CHUNK", "NOT_IN_TRAILERS", "REASONS", "last_chunk", "local_response", "request_head", "response_head"]
