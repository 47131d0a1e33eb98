"""A real Prometheus for the tests: on loopback, an ephemeral port, temp storage, killed at the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runtime.harness import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@contextmanager
def running_prometheus(
    work: Path, targets: Iterable[tuple[str, str, str]], *, paths: Mapping[str, str] | None = None
) -> Iterator[Prometheus]:
    """Prometheus scraping each ``(namespace, pod, address:port)`` every second, with those labels.

    ``paths``: pod -> the metrics path to scrape (default ``/metrics``).
    """
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (.ci/run installs the Debian package)")
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "smi-sidecars",
                "scrape_interval": "1s",
                "scrape_timeout": "900ms",
                "static_configs": [
                    {
                        "targets": [address],
                        "labels": {"namespace": ns, "pod": pod}
                        | ({"__metrics_path__": paths[pod]} if paths and pod in paths else {}),
                    }
                    for ns, pod, address in targets
                ],
            }
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (work / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=work,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited: {(work / 'prometheus.log').read_text()[-2000:]}")
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        wait_for("prometheus to be ready", ready, within=60, every=0.2)
        yield Prometheus(url)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        log.close()
