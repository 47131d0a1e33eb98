"""The demo bookbuyer: buys books from the bookstore at a bounded rate, through its sidecar.

Environment: ``BOOKSTORE_URL`` (default ``http://bookstore.<POD_NAMESPACE or default>:8080/books``),
``RATE`` (requests per second, default 10), ``COUNT`` (stop after this many; 0 = run until
stopped), ``HTTP_PROXY`` (set by the runtime: the sidecar's outbound listener).

Prints one line per answer: ``<status> <body>`` (status 0 = connection error), flushed, so
the runtime's log file shows what the buyer saw.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from smi.demo._http import Client


def default_url() -> str:
    namespace = os.environ.get("POD_NAMESPACE", "default")
    return f"http://bookstore.{namespace}:8080/books"


def run(*, url: str, rate: float, count: int) -> int:
    client = Client()
    interval = 1.0 / rate if rate > 0 else 0.0
    next_at = time.monotonic()
    done = 0
    while count == 0 or done < count:
        answer = client.get(url)
        print(f"{answer.status} {answer.body}", flush=True)
        done += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the load, not synchronisation
        else:
            next_at = time.monotonic()
    return 0


def run_from_env(*, name: str, doing: str, default_rate: str) -> int:
    """``run`` as the environment says, after one line ``<POD_NAME or name> <doing> <url> at <rate>/s``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = os.environ.get("BOOKSTORE_URL") or default_url()
    rate = float(os.environ.get("RATE", default_rate))
    count = int(os.environ.get("COUNT", "0"))
    print(f"{os.environ.get('POD_NAME', name)} {doing} {url} at {rate}/s", flush=True)
    return run(url=url, rate=rate, count=count)


def main() -> int:
    return run_from_env(name="bookbuyer", doing="buying from", default_rate="10")


if __name__ == "__main__":
    sys.exit(main())
