"""The one retry-delay rule of the mesh: exponential backoff, capped, optionally jittered.

Not part of the config contract itself, but a leaf both sides use: the local runtime
restarting a crashed process, the sidecar reconnecting its config stream and retrying its
certificate request.  It lives in ``smi.proxyconfig`` because that is the one
control-plane package the proxy may import.
"""

from __future__ import annotations

import random

_MAX_DOUBLINGS = 62  # 2**62 times any sensible initial delay is past every cap


def backoff_delay(
    attempt: int, *, initial: float, cap: float, jitter: float = 0.0, rng: random.Random | None = None
) -> float:
    """The wait before retry number ``attempt`` (1-based): ``initial * 2**(attempt-1)``, at most ``cap``.

    ``jitter``: the fraction of that delay drawn at random (0: exact; 0.5: uniform in
    ``(d/2, d]``, "equal jitter", so that many clients do not retry in step).
    """
    if attempt <= 0:
        return 0.0
    delay = float(min(cap, initial * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)))
    if jitter:
        delay *= 1.0 - jitter * (rng or random).random()
    return delay
