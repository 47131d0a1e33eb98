"""The demo bookthief: tries to take books like the buyer does, as an identity no
TrafficTarget lets in, so the mesh answers 403.  Same environment and output as ``bookbuyer``
(default rate 2/s)."""

from __future__ import annotations

import os
import signal
import sys

from smi.demo.bookbuyer import default_url, run


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = os.environ.get("BOOKSTORE_URL") or default_url()
    rate = float(os.environ.get("RATE", "2"))
    count = int(os.environ.get("COUNT", "0"))
    print(f"{os.environ.get('POD_NAME', 'bookthief')} stealing from {url} at {rate}/s", flush=True)
    return run(url=url, rate=rate, count=count)


if __name__ == "__main__":
    sys.exit(main())
