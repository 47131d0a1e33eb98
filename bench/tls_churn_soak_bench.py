"""Soak: RSS of a process making new mTLS connections with the sidecar's identity code.

What the sidecar does for every new upstream mTLS connection, without the HTTP engine
around it: ``proxy.identity.connect_mesh`` with the sidecar's ``TlsContexts`` (resuming the
TLS session), one request line, ``release()`` (which remembers the session ticket).  The
issue-13 leak was here: ~6 KB per connection, never released (CPython 3.11's
``SSLObject.session`` getter leaks a session copy per read).  Prints RSS at the start and at
each checkpoint (default 10,000 and 100,000 connections); flat is the target.  Bounded in
time (``--max-seconds``).  Server and client run in this one process, so the figure covers
both sides.

    python bench/tls_churn_soak_bench.py [--checkpoints 10000,100000] [--max-seconds 600]

Writes ``bench/results/tls_churn_soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.identity_tls_bench import _echo, _issue
from proxy.identity import InboundListener, Mode, TlsContexts, connect_mesh
from smi.identity import CertificateAuthority, spiffe_id

RESULTS = Path(__file__).parent / "results" / "tls_churn_soak.json"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def soak(checkpoints: list[int], max_seconds: float) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        ca = CertificateAuthority.open(
            Path(tmp) / "ca", trust_domain="cluster.local", leaf_lifetime=datetime.timedelta(hours=1)
        )
        server_ctx, client_ctx = TlsContexts(_issue(ca, "server")), TlsContexts(_issue(ca, "client"))
    listener = InboundListener(_echo, contexts=server_ctx, mode=Mode.STRICT)
    await listener.start("127.0.0.1")
    expected = {spiffe_id("cluster.local", "default", "server")}
    rows = [{"connections": 0, "rss_mb": round(rss_mb(), 1), "resumed": 0, "seconds": 0.0}]
    print(f"before: {rows[0]['rss_mb']} MB", flush=True)
    start = time.monotonic()
    done = resumed = 0
    try:
        for checkpoint in checkpoints:
            while done < checkpoint and time.monotonic() - start < max_seconds:
                stream = await connect_mesh("127.0.0.1", listener.port, contexts=client_ctx, expected=expected)
                stream.writer.write(b"hi\n")
                await stream.reader.readline()
                resumed += stream.resumed
                stream.release()
                done += 1
            gc.collect()
            row = {"connections": done, "rss_mb": round(rss_mb(), 1), "resumed": resumed,
                   "seconds": round(time.monotonic() - start, 1)}  # fmt: skip
            rows.append(row)
            print(f"after {done:>7} new mTLS connections ({resumed} resumed): {row['rss_mb']} MB "
                  f"({row['seconds']} s)", flush=True)  # fmt: skip
            if done < checkpoint:
                print(f"stopped at the {max_seconds:.0f} s bound before {checkpoint}")
                break
    finally:
        await listener.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="10000,100000")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    rows = asyncio.run(soak(sorted(int(c) for c in args.checkpoints.split(",")), args.max_seconds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"python": platform.python_version(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
