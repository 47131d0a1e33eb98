"""Idle memory of one sidecar process (a benchmark, not a test): issue 4's target is < 40 MB.

Starts ``python -m smi.cli.proxy`` (what the runtime and the injector run) with the
``proxy_outbound`` static config of ``bench/proxy_bench.py`` in two cases:

* ``mtls_off``: ``--mtls off``;
* ``mtls_strict``: ``--mtls strict`` with a real CA (the HTTPS CA API of
  ``proxy_bench.control_plane``, a bootstrap token): the proxy makes its key and CSR, gets
  its certificate and builds its TLS contexts before it is ready.

For each: waits for ``/ready`` (200), reads ``VmRSS`` from ``/proc/<pid>/status`` (idle),
scrapes ``/metrics`` and ``/config`` 20 times and reads ``VmRSS`` and ``VmHWM`` again, and
notes whether the process mapped the native parts of ``aiohttp`` or ``cryptography``
(``/proc/<pid>/maps``).  Each case runs ``--repeat`` times (default 3); the median is
reported and every run kept.  Writes ``bench/results/proxy_memory.json``.

Run: ``python bench/proxy_memory_bench.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.proxy_bench import control_plane, free_port, mtls_flags, proxy_config, rss, smi_proxy

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "proxy_memory.json"
TARGET_MB = 40.0


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()
    except OSError:
        return 0, b""


def wait_ready(admin: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the proxy exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        if get(admin + "/ready")[0] == 200:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{admin}/ready did not answer 200 within {timeout}s")


def mapped(pid: int) -> dict[str, bool]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name: f"/{name}/" in maps for name in ("aiohttp", "cryptography")}


def one_run(cmd: list[str], admin_port: int) -> dict[str, Any]:
    admin = f"http://127.0.0.1:{admin_port}"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(admin, proc)
        time.sleep(0.5)  # let start-up garbage settle; this is a measurement, not a test
        idle = rss(proc.pid)["VmRSS"]
        for _ in range(20):
            assert get(admin + "/metrics")[0] == 200
            assert get(admin + "/config")[0] == 200
        after = rss(proc.pid)
        return {"idle_rss_mb": idle, "scraped_rss_mb": after["VmRSS"], "hwm_mb": after["VmHWM"], **mapped(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"mtls_off": [], "mtls_strict": []}
    with tempfile.TemporaryDirectory(prefix="smi-mem-") as tmp_name:
        tmp = Path(tmp_name)
        config = proxy_config(origin_port=free_port(), mesh_inbound_port=free_port())
        path = tmp / "client.json"
        path.write_text(json.dumps(config["client"]))
        with control_plane(tmp) as (ca_url, bundle, tokens):
            for _ in range(args.repeat):
                for case in runs:
                    admin = free_port()
                    cmd = smi_proxy(path, outbound=free_port(), inbound=("127.0.0.1", free_port()), admin=admin)
                    if case == "mtls_strict":
                        cmd += mtls_flags(ca_url, bundle, tokens["client"], "client")
                    else:
                        cmd += ["--mtls", "off"]
                    runs[case].append(one_run(cmd, admin))
    cases: dict[str, Any] = {}
    for case, results in runs.items():
        cases[case] = {
            key: round(statistics.median(r[key] for r in results), 2)
            for key in ("idle_rss_mb", "scraped_rss_mb", "hwm_mb")
        }
        cases[case]["imports_aiohttp"] = any(r["aiohttp"] for r in results)
        cases[case]["imports_cryptography"] = any(r["cryptography"] for r in results)
        cases[case]["under_target"] = cases[case]["idle_rss_mb"] < TARGET_MB
        cases[case]["runs"] = results
    document = {
        "what": "idle RSS of `python -m smi.cli.proxy --config-file ...` once /ready answers 200",
        "target_mb": TARGET_MB,
        "python": sys.version.split()[0],
        "repeat": args.repeat,
        "cases": cases,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    for case, c in cases.items():
        print(f"{case:12s} idle {c['idle_rss_mb']:.1f} MB  after 20 scrapes {c['scraped_rss_mb']:.1f} MB  "
              f"(peak {c['hwm_mb']:.1f} MB; aiohttp {c['imports_aiohttp']}, "
              f"cryptography {c['imports_cryptography']})")  # fmt: skip
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
