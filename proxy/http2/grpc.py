"""gRPC facts the mesh needs: is it gRPC, its deadline, its outcome, and local replies.

* ``grpc-timeout`` (the client's deadline, e.g. ``250m``; units H M S m u n, at most 8
  digits) becomes the request's deadline: the proxy gives up at
  ``min(route timeout, grpc-timeout)`` and answers ``DEADLINE_EXCEEDED``.
* The outcome of a gRPC call is ``grpc-status`` in the trailers (or in the head of a
  trailers-only response), not the HTTP status: a call is a **failure** when the status
  is not ``0`` (OK), even with HTTP 200.  ``classify`` says which; metrics count it in
  ``smi_grpc_responses_total{grpc_status, classification}`` (answers from upstream only:
  the proxy's own replies are counted by their HTTP status, as for HTTP/1.1).
* A reply the proxy makes itself to a gRPC request (403 denied, 404 no route, 503, 504)
  is HTTP 200 with ``grpc-status``/``grpc-message`` (a trailers-only response, what gRPC
  clients expect), the status mapped as in gRPC's HTTP-to-gRPC table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import quote

OK: Final = 0
CANCELLED: Final = 1
UNKNOWN: Final = 2
DEADLINE_EXCEEDED: Final = 4
PERMISSION_DENIED: Final = 7
UNIMPLEMENTED: Final = 12
INTERNAL: Final = 13
UNAVAILABLE: Final = 14
UNAUTHENTICATED: Final = 16

_UNITS: Final = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
# gRPC's "HTTP to gRPC status code mapping" (doc/http-grpc-status-mapping.md), for local replies
_FROM_HTTP: Final = {400: INTERNAL, 401: UNAUTHENTICATED, 403: PERMISSION_DENIED, 404: UNIMPLEMENTED,
                     408: DEADLINE_EXCEEDED, 429: UNAVAILABLE, 502: UNAVAILABLE, 503: UNAVAILABLE,
                     504: DEADLINE_EXCEEDED}  # fmt: skip


def is_grpc(content_type: bytes | None) -> bool:
    """``application/grpc`` and its ``+proto``/``+json``/``;`` variants."""
    return content_type is not None and content_type[:16].lower() == b"application/grpc"


def parse_timeout(value: bytes | None) -> float | None:
    """``grpc-timeout`` in seconds; None when absent or malformed (then it is ignored)."""
    if not value or len(value) < 2:
        return None
    digits, unit = value[:-1], value[-1:]
    if not digits.isdigit() or len(digits) > 8 or unit not in _UNITS:
        return None
    return int(digits) * _UNITS[unit]


def status_of(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The ``grpc-status`` among ``headers``; None when there is none (or it is not a number)."""
    for name, value in headers:
        if name == b"grpc-status":
            return int(value) if value.strip().isdigit() else UNKNOWN
    return None


def classify(http_status: int, grpc_status: int | None) -> str:
    """``success`` or ``failure``: a gRPC error status is a failure whatever the HTTP status."""
    if grpc_status is not None:
        return "success" if grpc_status == OK else "failure"
    return "failure" if http_status >= 500 else "success"


def status_for_http(http_status: int) -> int:
    return _FROM_HTTP.get(http_status, UNKNOWN)


def local_reply_headers(http_status: int, text: str) -> list[tuple[bytes, bytes]]:
    """A trailers-only gRPC response for a reply the proxy makes itself."""
    return [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", b"%d" % status_for_http(http_status)),
        (b"grpc-message", quote(text, safe=" !#$&'()*+,-./:;<=>?@[]^_`{|}~").encode("ascii")),
    ]


__all__ = [
    "DEADLINE_EXCEEDED",
    "OK",
    "UNAVAILABLE",
    "classify",
    "is_grpc",
    "local_reply_headers",
    "parse_timeout",
    "status_for_http",
    "status_of",
]
