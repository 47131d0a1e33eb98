"""Pure HTTP/1.1 helpers: request heads, hop-by-hop headers (RFC 9110 section 7.6.1), targets.

The forwarding engine (``http1``) calls ``clean_headers`` once per message head: it drops
the hop-by-hop headers (``Connection`` and every header it names, ``Keep-Alive``,
``Proxy-Connection``, ``TE``, ``Transfer-Encoding``, ``Upgrade``, ``Proxy-Authorization``,
``Proxy-Authenticate``) and reports what the engine needs to re-frame the message, whether
``TE`` asked for trailers (the engine passes trailers on, so it may ask for them too) and a
``grpc-status`` in the head (a trailers-only gRPC response), found in the same pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)


@dataclass(slots=True)
class CleanHead:
    """A message head with hop-by-hop headers removed, plus the facts they carried."""

    headers: list[tuple[bytes, bytes]]  # (name as received, value), end-to-end only
    host: bytes | None = None
    content_length: bytes | None = None
    chunked: bool = False
    upgrade: bytes | None = None  # the Upgrade header's value
    expect_continue: bool = False
    hosts: int = 0  # how many Host field lines (more than one is a 400, RFC 9112 section 3.2)
    te_trailers: bool = False  # TE names "trailers": the sender accepts trailers in the response
    grpc_status: bytes | None = None  # a grpc-status field in the head (trailers-only gRPC response)


# What each header name that matters to the engine is (by lower-case name); others are just copied.
_HOP, _CONNECTION, _TRANSFER_ENCODING, _UPGRADE, _HOST, _CONTENT_LENGTH, _EXPECT, _TE, _GRPC_STATUS = range(9)
_KINDS: Final = {
    **dict.fromkeys(HOP_BY_HOP, _HOP),
    b"connection": _CONNECTION,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"upgrade": _UPGRADE,
    b"host": _HOST,
    b"content-length": _CONTENT_LENGTH,
    b"expect": _EXPECT,
    b"te": _TE,
    b"grpc-status": _GRPC_STATUS,
}


def clean_headers(raw: list[tuple[bytes, bytes]]) -> CleanHead:
    """Split ``raw`` headers into end-to-end headers and framing/connection facts.

    One pass with one dict lookup per header; when no hop-by-hop header is present (the
    usual case) ``raw`` itself is the result's header list (it is not copied, so callers
    must not change it afterwards).
    """
    head = CleanHead(raw)
    hop = False
    named: set[bytes] | None = None
    kinds = _KINDS
    for name, value in raw:
        kind = kinds.get(name.lower())
        if kind is None:
            continue
        if kind == _HOST:
            head.host = value
            head.hosts += 1
        elif kind == _CONTENT_LENGTH:
            head.content_length = value
        elif kind == _EXPECT:
            head.expect_continue = value.lower() == b"100-continue"
        elif kind == _GRPC_STATUS:
            head.grpc_status = value
        else:
            hop = True
            if kind == _CONNECTION:
                for token in value.lower().split(b","):
                    token = token.strip()
                    if token and token not in (b"close", b"keep-alive", b"upgrade"):
                        named = named or set()
                        named.add(token)
            elif kind == _TRANSFER_ENCODING:
                head.chunked = value.lower().rstrip().endswith(b"chunked")
            elif kind == _UPGRADE:
                head.upgrade = value
            elif kind == _TE:
                head.te_trailers = b"trailers" in value.lower()
    if hop:
        drop = HOP_BY_HOP | named if named else HOP_BY_HOP
        head.headers = [(n, v) for n, v in raw if n.lower() not in drop]
    return head


def split_target(target: bytes) -> tuple[bytes | None, bytes]:
    """Absolute-form ``http://auth/path?q`` -> (b"auth", b"/path?q"); origin-form -> (None, target)."""
    if target[:1] == b"/" or target == b"*":
        return None, target
    lower = target[:8].lower()
    if lower.startswith(b"http://"):
        rest = target[7:]
    elif lower.startswith(b"https://"):
        rest = target[8:]
    else:
        return None, target
    slash = rest.find(b"/")
    query = rest.find(b"?")
    cut = min(i for i in (slash, query, len(rest)) if i >= 0)
    authority, path = rest[:cut], rest[cut:]
    if not path or path[:1] == b"?":
        path = b"/" + path
    at = authority.rfind(b"@")
    if at >= 0:
        authority = authority[at + 1 :]
    return authority, path


def parse_authority(authority: bytes, *, default_port: int = 80) -> tuple[str, int] | None:
    """``b"Web.NS:8080"`` -> ("web.ns", 8080); None when the port is not a number."""
    text = authority.decode("latin-1").strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    if host.endswith("."):
        host = host[:-1]
    if not port_text:
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


@dataclass(slots=True)
class RequestHead:
    """What routing and authorization look at: method, path (no query), lower-cased headers."""

    method: str
    path: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def header(self, lname: str) -> str | None:
        """The first value of a header, by lower-case name."""
        key = lname.encode("latin-1")
        for name, value in self.headers:
            if name.lower() == key:
                return value.decode("latin-1")
        return None

    def header_matches(self, lname: str, pattern: re.Pattern[str]) -> bool:
        """Whether the header is present and *every* field line of it fully matches ``pattern``.

        Every line, not any one: the app may read any of them, so each must be one the rule
        allows (docs/semantics.md row 5).  Names compare case-insensitively with ``_`` equal
        to ``-`` (CGI/WSGI servers map both to the same variable); optional whitespace around a
        value is not part of it.
        """
        key = lname.replace("_", "-").encode("latin-1")
        seen = False
        for name, value in self.headers:
            low = name.lower()
            if low == key or (b"_" in low and low.replace(b"_", b"-") == key):
                if pattern.fullmatch(value.strip(b" \t").decode("latin-1")) is None:
                    return False
                seen = True
        return seen


_UNRESERVED: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


def is_plain_target(target: bytes) -> bool:
    """True for the common target that ``normalize_target`` would return unchanged (a quick test)."""
    return not (b"%" in target or b"/." in target or b"//" in target or b"\\" in target or b"#" in target)


def normalize_target(target: bytes) -> bytes | None:
    """The origin-form ``target`` with its path normalised; None when it is ambiguous (answer 400).

    What access rules see is what the app gets (docs/semantics.md row 2a): percent-encoded
    unreserved characters are decoded (``/%61dmin`` -> ``/admin``), empty segments merged
    (``//admin`` -> ``/admin``) and dot segments removed (``/a/../admin`` -> ``/admin``,
    never above the root).  Ambiguous targets are refused: a fragment (``#``), a backslash,
    an encoded ``/`` or ``\\`` (``%2F``, ``%5C``) and a malformed escape.  The query is kept
    as it is; other escapes stay encoded (hex in upper case).
    """
    if b"#" in target:
        return None
    q = target.find(b"?")
    path, query = (target, b"") if q < 0 else (target[:q], target[q:])
    if b"\\" in path:
        return None
    if b"%" in path:
        out = bytearray()
        i, n = 0, len(path)
        while i < n:
            c = path[i]
            if c != 0x25:
                out.append(c)
                i += 1
                continue
            pair = path[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                return None
            code = int(pair, 16)
            if code in (0x2F, 0x5C):
                return None
            if code in _UNRESERVED:
                out.append(code)
            else:
                out += b"%" + pair.upper()
            i += 3
        path = bytes(out)
    parts = path.split(b"/")[1:]
    kept: list[bytes] = []
    for part in parts:
        if part == b"..":
            if kept:
                kept.pop()
        elif part and part != b".":
            kept.append(part)
    trailing = bool(kept) and parts[-1] in (b"", b".", b"..")
    return b"/" + b"/".join(kept) + (b"/" if trailing else b"") + query


def path_of(origin_target: bytes) -> str:
    """The path of an origin-form target, without the query string."""
    q = origin_target.find(b"?")
    return (origin_target if q < 0 else origin_target[:q]).decode("latin-1")
