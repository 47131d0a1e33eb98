"""HTTP/2 message heads and their mapping to the proxy's protocol-neutral request view.

A :class:`Message` is one head: a request (``:method``, ``:scheme``, ``:authority``,
``:path``) or a response (``:status``), with its regular header fields (names in lower
case, as HTTP/2 requires).  ``request_head`` gives routing, TrafficSplit matches,
HTTPRouteGroup matches and access control the same :class:`~proxy.headers.RequestHead`
an HTTP/1.1 request gives them:

* the method is ``:method``;
* the path is ``:path`` normalised exactly like an HTTP/1.1 target
  (``proxy.headers.normalize_target``; an ambiguous one is refused with 400), without
  the query;
* the headers are the regular fields plus ``host: <:authority>`` (an HTTP/1.1 request
  always has a Host, so a rule on ``host`` means the same for both), and
* the destination service comes from ``:authority`` as it comes from ``Host``.

Conversion to and from HTTP/1.1 (``to_http1_request``, ``from_http1_request``, ...)
drops the connection-specific fields HTTP/2 forbids (RFC 9113 section 8.2.2:
``connection`` and what it names, ``keep-alive``, ``proxy-connection``,
``transfer-encoding``, ``upgrade``; ``te`` except ``trailers``) and moves ``Host`` to
and from ``:authority``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from proxy.headers import HOP_BY_HOP, RequestHead, normalize_target, path_of

_REQUEST_PSEUDO: Final = frozenset({b":method", b":scheme", b":authority", b":path", b":protocol"})


class MessageError(ValueError):
    """A head HTTP/2 does not allow (missing or unknown pseudo-header, bad status)."""


_NOT_IN_TRAILERS: Final = frozenset(
    {b"content-length", b"host", b"content-type", b"content-encoding", b"authorization", b"cookie", b"set-cookie"}
)  # fields a trailer section may not carry, besides the connection-specific ones (RFC 9110 section 6.5.1)

ORIG_PROTO: Final = b"smi-orig-proto"
"""Set by the calling sidecar on an HTTP/1.1 caller's request it carries as an HTTP/2 stream
(``--h1-over-h2``); on a ``detect`` port the inbound sidecar then calls the app with HTTP/1.1,
as the caller spoke (Linkerd's ``l5d-orig-proto`` plays this part).  Never reaches an app."""


@dataclass(slots=True)
class Message:
    """One HTTP/2 head.  Requests: method/scheme/authority/path; responses: status."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # regular fields, lower-case names
    method: bytes = b""
    scheme: bytes = b""
    authority: bytes = b""
    path: bytes = b""
    status: int = 0

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def header(self, name: bytes) -> bytes | None:
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def take_header(self, name: bytes) -> bytes | None:
        """Remove every ``name`` field; the first one's value (None when there was none)."""
        value = self.header(name)
        if value is not None:
            self.headers = [(n, v) for n, v in self.headers if n != name]
        return value

    def to_headers(self) -> list[tuple[bytes, bytes]]:
        """The header block to send: pseudo-headers first."""
        if self.method:
            pseudo = [(b":method", self.method), (b":scheme", self.scheme or b"http")]
            if self.authority:
                pseudo.append((b":authority", self.authority))
            if self.method != b"CONNECT":
                pseudo.append((b":path", self.path or b"/"))
        else:
            pseudo = [(b":status", b"%d" % self.status)]
        return pseudo + self.headers

    def request_head(self) -> RequestHead | None:
        """The neutral view for routing and access control; None when the path is ambiguous (answer 400)."""
        target = self.path if self.path[:1] == b"/" else b"/" + self.path
        normal = normalize_target(target)
        if normal is None:
            return None
        self.path = normal  # what the rules see is what the app gets
        headers = self.headers
        if self.authority:
            headers = [*headers, (b"host", self.authority)]
        return RequestHead(self.method.decode("latin-1"), path_of(normal), headers)


def message_from_headers(raw: Iterable[tuple[bytes, bytes]], *, request: bool) -> Message:
    """Split a received header block into a :class:`Message` (raises MessageError)."""
    m = Message()
    regular = m.headers
    for name, value in raw:
        if name[:1] != b":":
            regular.append((name, value))
        elif request and name in _REQUEST_PSEUDO:
            if name == b":method":
                m.method = value
            elif name == b":scheme":
                m.scheme = value
            elif name == b":authority":
                m.authority = value
            elif name == b":path":
                m.path = value
        elif not request and name == b":status":
            if not value.isdigit() or len(value) != 3:
                raise MessageError(f"bad :status {value!r}")
            m.status = int(value)
        else:
            raise MessageError(f"unexpected pseudo-header {name!r}")
    if request:
        if not m.method or (m.method != b"CONNECT" and not m.path):
            raise MessageError("a request needs :method and :path")
        if not m.authority:
            host = m.header(b"host")
            if host is not None:
                m.authority = host
        m.headers = [(n, v) for n, v in regular if n != b"host"]
    elif not m.status:
        raise MessageError("a response needs :status")
    return m


def _h2_fields(
    headers: Iterable[tuple[bytes, bytes]], *, drop: frozenset[bytes] = frozenset()
) -> list[tuple[bytes, bytes]]:
    """HTTP/1.1 header lines -> HTTP/2 regular fields (lower-case, connection-specific ones dropped)."""
    out: list[tuple[bytes, bytes]] = []
    named: set[bytes] = set()
    lines = list(headers)
    for name, value in lines:
        if name.lower() == b"connection":
            named.update(t.strip() for t in value.lower().split(b","))
    for name, value in lines:
        low = name.lower()
        if low == b"te":
            if b"trailers" in value.lower():
                out.append((b"te", b"trailers"))
            continue
        if low in HOP_BY_HOP or low in named or low in drop or low == b"http2-settings":
            continue
        out.append((low, value.strip(b" \t")))
    return out


def from_http1_request(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]], *,
                       authority: bytes | None = None, scheme: bytes = b"http") -> Message:  # fmt: skip
    """An HTTP/1.1 request head as an HTTP/2 request ``Message`` (Host becomes ``:authority``)."""
    lines = list(headers)
    host = authority
    if host is None:
        host = next((v for n, v in lines if n.lower() == b"host"), b"")
    fields = _h2_fields(lines, drop=frozenset({b"host"}))
    if any(n == b"content-type" and v[:16].lower() == b"application/grpc" for n, v in fields) and not any(
        n == b"te" for n, _ in fields
    ):
        # TE is hop-by-hop in HTTP/1.1 (an HTTP/1.1 hop may have dropped it); gRPC servers require it
        fields.append((b"te", b"trailers"))
    return Message(fields, method=method, scheme=scheme, authority=host, path=target)


def from_http1_response(status: int, headers: Iterable[tuple[bytes, bytes]]) -> Message:
    return Message(_h2_fields(headers), status=status)


def to_http1_request(m: Message, *, chunked: bool) -> bytes:
    """An HTTP/2 request as an HTTP/1.1 head (``chunked``: the body is re-framed as chunked)."""
    parts = [b"%b %b HTTP/1.1\r\nhost: %b\r\n" % (m.method, m.path or b"/", m.authority)]
    for name, value in m.headers:
        if name == b"te" or name in HOP_BY_HOP:
            continue
        parts += (name, b": ", value, b"\r\n")
    if chunked:
        parts.append(b"transfer-encoding: chunked\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def to_http1_response_head(m: Message, *, chunked: bool, close: bool, reason: bytes = b"") -> bytes:
    parts = [b"HTTP/1.1 %d %b\r\n" % (m.status, reason or _REASONS.get(m.status, b"Status"))]
    for name, value in m.headers:
        if name in HOP_BY_HOP:
            continue
        parts += (name, b": ", value, b"\r\n")
    if chunked:
        parts.append(b"transfer-encoding: chunked\r\n")
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def trailers_from_http1(trailers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An HTTP/1.1 chunked body's trailer fields as HTTP/2 trailers (lower-case; no framing or routing fields)."""
    return _h2_fields(trailers, drop=_NOT_IN_TRAILERS)


def trailers_as_http1(trailers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The last chunk of a chunked HTTP/1.1 body, carrying ``trailers``."""
    return b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in trailers) + b"\r\n"


_REASONS: Final = {
    200: b"OK", 201: b"Created", 204: b"No Content", 301: b"Moved Permanently", 302: b"Found",
    304: b"Not Modified", 400: b"Bad Request", 403: b"Forbidden", 404: b"Not Found",
    408: b"Request Timeout", 500: b"Internal Server Error", 502: b"Bad Gateway",
    503: b"Service Unavailable", 504: b"Gateway Timeout",
}  # fmt: skip


__all__ = [
    "Message",
    "MessageError",
    "from_http1_request",
    "from_http1_response",
    "message_from_headers",
    "to_http1_request",
    "to_http1_response_head",
    "trailers_as_http1",
    "trailers_from_http1",
]
