"""Counting the answers an HTTP/2 listener gives itself, the same way for every front.

Both fronts that route HTTP/2 streams (``server.Http2Server`` for HTTP/2 clients and
``front1`` for HTTP/1.1 clients riding HTTP/2) count a request they cannot route, or that
the router answers itself (403 denied, 404, 503), on the edge's stats and publish it to tap.
"""

from __future__ import annotations

from proxy.http2.messages import Message
from proxy.tap.publishing import publish
from proxy.targets import LocalReply, Router


def count_malformed(router: Router) -> None:
    """A request whose head is ambiguous: 400, counted on the router's fallback edge."""
    stats = router.fallback_stats()
    stats.requests += 1
    stats.error("bad_request")
    stats.response(400, 0.0)


def count_local_reply(decision: LocalReply, message: Message, *, now: float) -> list[tuple[bytes, bytes]]:
    """Count the router's own answer to ``message``; the extra response headers to send with it."""
    stats = decision.stats
    stats.requests += 1
    if decision.error:
        stats.error(decision.error)
    if decision.denied:
        stats.denied += 1
    stats.response(decision.status, 0.0)
    if stats.tap.listening:
        publish(
            stats.tap, stats.labels, now=now, method=message.method, authority=message.authority,
            path=message.path, status=decision.status, seconds=0.0, denied=decision.denied, error=decision.error,
        )  # fmt: skip
    return [(b"x-smi-denied-by", b"source")] if decision.headers.startswith(b"x-smi-denied-by") else []
