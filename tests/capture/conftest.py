"""Network namespaces for the capture tests: a "pod" and a "peer" joined by a veth pair.

Addresses come only from 198.18.0.0/15 (peer 198.18.0.1/30, pod 198.18.0.2/30), inside
namespaces the fixture creates with unique names ``smi-t-<pid>-<random>-{pod,peer}`` and
always deletes (finalizer, even on failure).  At session start, namespaces with the
``smi-t-`` prefix left by crashed runs (whose pid no longer exists) are deleted.

Everything here skips with a reason when not root or when ``ip`` / ``iptables`` are missing.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PREFIX = "smi-t-"
PEER_IP = "198.18.0.1"
POD_IP = "198.18.0.2"
DEADLINE = 10.0


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables", "iptables-save", "iptables-restore"):
        if shutil.which(tool) is None:
            return f"needs {tool!r} on PATH (apt-get install -y iproute2 iptables)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"'ip netns' is unavailable: {probe.stderr.strip()}"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=DEADLINE)


def _delete_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False, timeout=DEADLINE)


def _leftovers() -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    stale = []
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("-")[0]
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            stale.append(name)
    return stale


@pytest.fixture(scope="session")
def netns_available() -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    for name in _leftovers():
        _delete_netns(name)


@dataclass
class Net:
    pod: str
    peer: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def run(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=30, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{argv} in {ns} failed ({done.returncode}): {done.stderr}")
        return done

    def smi(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(ns, sys.executable, "-m", "smi.cli.main", *args, check=check)

    def endpoint(self, ns: str, *ports: int, v6: bool = False) -> None:
        """Start ``_endpoint.py`` in ``ns``, listening on ``ports``; returns once it says ready."""
        flags = ["--v6"] if v6 else []
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "_endpoint.py"), *flags, *map(str, ports)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            proc.kill()
            _, err = proc.communicate(timeout=DEADLINE)
            raise AssertionError(f"endpoint on {ports} in {ns} did not start: {line!r} {err}")

    def connect(self, ns: str, host: str, port: int, *, uid: int | None = None) -> dict[str, Any]:
        """Connect from ``ns`` (as ``uid``) and return the endpoint's reply (or ``{"error": ...}``)."""
        argv = [sys.executable, str(HERE / "_client.py"), host, str(port), *([str(uid)] if uid is not None else [])]
        done = self.run(ns, *argv, check=False)
        try:
            reply: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            reply = {"error": f"no reply: stdout={done.stdout!r} stderr={done.stderr!r}"}
        return reply

    def nat_rules(self) -> str:
        return self.run(self.pod, "iptables-save", "-t", "nat").stdout


@pytest.fixture
def net(netns_available: None) -> Iterator[Net]:
    base = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    net = Net(pod=f"{base}-pod", peer=f"{base}-peer")
    try:
        _ip("netns", "add", net.pod)
        _ip("netns", "add", net.peer)
        _ip("link", "add", "smi0", "netns", net.pod, "type", "veth", "peer", "name", "smi0", "netns", net.peer)
        for ns, address in ((net.pod, POD_IP), (net.peer, PEER_IP)):
            _ip("-n", ns, "addr", "add", f"{address}/30", "dev", "smi0")
            _ip("-n", ns, "link", "set", "smi0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield net
    finally:
        for proc in net.processes:
            proc.kill()
            try:
                proc.communicate(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                pass
        _delete_netns(net.pod)
        _delete_netns(net.peer)
