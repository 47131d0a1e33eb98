"""Limits that protect a sidecar from a hostile or broken HTTP client.

One ``HttpLimits`` is shared by every HTTP listener of a proxy (``ProxySettings.http_limits``).

* ``max_head_bytes``: a request head (request line and headers) that grows past this many
  bytes is answered **431** and the connection closed.  Every byte of the head counts,
  those of the read that started it included, so no more than this many bytes of one
  head are ever held or forwarded.  ``max_headers`` caps the number of header lines the
  same way (431).
* ``head_timeout``: a request head still incomplete this many seconds after its first
  byte is answered **408** and the connection closed (slowloris).
* ``body_timeout``: a request body that makes no progress (no byte) for this many
  seconds: **408** and closed when no response has started, else the connection is
  closed.
* ``idle_timeout``: a client keep-alive connection with nothing in flight and no byte for
  this many seconds is closed.
* ``upstream_idle_timeout``: an idle pooled upstream connection is closed after this long.

Time limits are checked by one lazy timer per connection every ``check_interval``
seconds (so a limit is enforced within one interval of its time); nothing is done per
request.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    head_timeout: float = 30.0
    body_timeout: float = 60.0
    idle_timeout: float = 300.0
    upstream_idle_timeout: float = 60.0

    @property
    def check_interval(self) -> float:
        return max(min(self.head_timeout, self.body_timeout, self.idle_timeout) / 2, 0.01)


DEFAULT_LIMITS = HttpLimits()

__all__ = ["DEFAULT_LIMITS", "HttpLimits"]
