"""Limits that protect a sidecar from a hostile or broken HTTP client.

One ``HttpLimits`` is shared by every HTTP listener of a proxy (``ProxySettings.http_limits``).

* ``max_head_bytes``: a request head (request line and headers) that grows past this many
  bytes is answered **431** and the connection closed.  Counted across socket reads (the
  request target also on its own), so the bytes held for one head stay under this plus
  one read (at most 256 KiB), whatever a client sends.  ``max_headers`` caps the number of
  header lines the same way (431).
* ``head_timeout``: a request head that is still incomplete after this many seconds is
  answered **408** and the connection closed (slowloris).  Checked by one timer per
  connection every ``head_timeout`` seconds, so a stalled head is closed after between one
  and two timeouts; nothing is done per request.  Idle keep-alive connections (no byte of
  a next request yet) are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    head_timeout: float = 30.0


DEFAULT_LIMITS = HttpLimits()

__all__ = ["DEFAULT_LIMITS", "HttpLimits"]
