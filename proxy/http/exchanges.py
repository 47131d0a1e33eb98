"""``Exchange``: one request and its response on a client connection, as the core tracks it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.headers import CleanHead, RequestHead
from proxy.http.attempts import Attempt
from proxy.http.upstreams import Upstream
from proxy.metrics import EdgeStats
from proxy.targets import Target

if TYPE_CHECKING:
    from proxy.resilience.guard import DestinationGuard
    from proxy.resilience.retrying import RetryPolicy

NO_BODY = 0
LENGTH = 1
CHUNKED = 2


class Exchange:
    """One request and its response; the fields are the core's bookkeeping (see ``connection``)."""

    __slots__ = (
        "activated",
        "attempt",
        "authority",
        "clean",
        "close_after",
        "deadline",
        "fed_back",
        "framing",
        "grpc_status",
        "guard",
        "head",
        "head_bytes",
        "head_done",
        "idle_timeout",
        "is_head",
        "keep_alive",
        "method",
        "overall_deadline",
        "pending",
        "pending_held",
        "pending_size",
        "policy",
        "raw_headers",
        "replay",
        "replay_size",
        "req_bytes",
        "request_done",
        "request_timeout",
        "resp_bytes",
        "resp_chunked",
        "response_done",
        "response_started",
        "retried",
        "retries",
        "retry_at",
        "retry_held",
        "started",
        "stats",
        "status",
        "target",
        "upgrade",
        "upstream",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.method = b""
        self.version = "1.1"
        self.keep_alive = True
        self.clean: CleanHead | None = None
        self.head: RequestHead | None = None  # what routing saw (protocol-neutral)
        self.authority: bytes | None = None
        self.framing = NO_BODY
        self.head_done = False
        self.grpc_status: bytes | None = None  # the response's grpc-status (head or HTTP/1.1 trailers)
        self.request_done = False
        self.activated = False
        self.head_bytes = b""
        self.pending: list[bytes] = []  # request body bytes that arrived before an upstream was bound
        self.pending_size = 0
        self.target: Target | None = None
        self.attempt: Attempt | None = None
        self.upstream: Upstream | None = None
        self.stats: EdgeStats | None = None
        self.response_started = False
        self.response_done = False
        self.resp_chunked = False
        self.close_after = False
        self.is_head = False
        self.upgrade = False
        self.retried = False  # resent once on a fresh connection after a reused one closed
        self.status = 0
        self.req_bytes = 0
        self.resp_bytes = 0
        self.started = 0.0
        self.deadline = 0.0  # clock time by which the response head is due; 0: none running
        self.fed_back = False  # the picker has been told how this request went
        # resilience (proxy.http.guarding): the destination's guard while a circuit slot is held
        self.guard: DestinationGuard | None = None
        self.replay: list[bytes] | None = None  # the body as sent, while the request may be replayed
        self.replay_size = 0
        self.retries = 0  # retries made (attempts after the first that the policy asked for)
        self.retry_at = 0.0  # clock time the next retry starts (backoff); 0: none waiting
        self.retry_held = False  # a circuit retry slot is held by the attempt in flight
        self.pending_held = False  # a circuit "pending" slot is held while a new connection is made
        self.overall_deadline = 0.0  # the whole request's response-head deadline, across attempts
        self.policy: RetryPolicy | None = None  # the retry policy in force (a route's or the destination's)
        self.request_timeout = 0.0  # a route's request timeout; 0: the target's
        self.idle_timeout = 0.0  # the destination's: no byte either way this long ends the exchange; 0: none


__all__ = ["CHUNKED", "LENGTH", "NO_BODY", "Exchange"]
