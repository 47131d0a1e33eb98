"""What the local driver needs when ``smi up`` runs with ``--isolation netns`` (root only).

* ``get_json_in(ns, host, port, target)``: an HTTP GET made from inside a pod's network
  namespace (the driver asks the tool app on its pod address from inside that pod, as
  ``kubectl exec`` would; from outside, the pod address is not even routable);
* ``OutsideHost``: a host *outside the mesh* on the runtime's bridge, in a namespace of its
  own (``<prefix>-out-<n>``, address from 198.19.128.0/17, which the runtime never
  allocates), running the conformance server; it also makes calls that skip every sidecar.
  The runtime's own cleanup sweeps it too (same prefix).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from typing import Any

from conformance.waiting import wait_until
from smi.runtime import netns
from smi.runtime.isolation import run_prefix

__all__ = ["OutsideHost", "get_json_in", "http_get_in", "run_prefix"]

OUTSIDE_PORT = 8080


def http_get_in(ns: str, host: str, port: int, target: str, *, timeout: float) -> tuple[int, bytes]:
    """``(status, body)`` of a GET made from inside ``ns``; raises OSError when there is no answer."""
    sock = netns.socket_in(ns)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as e:
        raise ConnectionError(f"no HTTP answer from {host}:{port}: {e!r}") from e
    finally:
        sock.close()


def get_json_in(ns: str, host: str, port: int, target: str, *, timeout: float) -> dict[str, Any]:
    status, body = http_get_in(ns, host, port, target, timeout=timeout)
    if status != 200:
        raise ConnectionError(f"{host}:{port}{target} answered {status}: {body[:200]!r}")
    answer: dict[str, Any] = json.loads(body)
    return answer


class OutsideHost:
    """A server outside the mesh, on the mesh's bridge, at ``address:8080``."""

    def __init__(self, *, prefix: str, name: str, address: str) -> None:
        self.address = address
        self.fabric = netns.Fabric(prefix)
        self.name = name
        self.ns = self.fabric.add(name, address)
        env = {**os.environ, "POD_IP": address, "PORT": str(OUTSIDE_PORT), "WORKLOAD": f"outside-{name}"}
        self.process = subprocess.Popen(
            [*netns.exec_prefix(self.ns), sys.executable, "-m", "conformance.apps.server"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(f"outside host {address} to listen", self._listening, timeout=30)
        except BaseException:
            self.close()
            raise

    def _listening(self) -> bool:
        try:
            status, _ = http_get_in(self.ns, self.address, OUTSIDE_PORT, "/", timeout=2)
        except OSError:
            return False
        return status == 200

    def call(self, address: str, port: int, target: str = "/") -> tuple[int, str]:
        """A plain GET from this host to ``address:port``, skipping every sidecar; (0, why) without an answer."""
        try:
            status, body = http_get_in(self.ns, address, port, target, timeout=5)
        except OSError as e:
            return 0, str(e) or type(e).__name__
        return status, body.decode("utf-8", "replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.fabric.remove(self.name)
