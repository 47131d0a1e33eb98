"""Server commands report a port in use or an unreachable API server in one line, exit 1, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)


def smi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smi.cli.main", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def one_clear_line(done: subprocess.CompletedProcess[str], *, says: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1 and says in lines[0], done.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def api_server() -> Iterator[str]:
    """Something that answers ``GET /version`` like an API server (the controller's start-up check)."""

    class Version(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Version)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_controller_with_its_port_in_use(busy_port: int, api_server: str) -> None:
    done = smi("controller", "--server", api_server, "--listen", f"127.0.0.1:{busy_port}", "--insecure-plaintext")
    one_clear_line(done, says="address already in use")


def test_controller_with_an_unreachable_api_server(busy_port: int) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        done = smi("controller", "--server", f"http://127.0.0.1:{port}", "--api-timeout", "1",
                   "--listen", "127.0.0.1:0", "--insecure-plaintext")  # fmt: skip
    one_clear_line(done, says="cannot reach the Kubernetes API server")


def test_controller_without_any_api_server(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": ""}
    done = smi("controller", "--listen", "127.0.0.1:0", "--insecure-plaintext", env=env)
    one_clear_line(done, says="no Kubernetes API server")


def test_webhook_with_its_port_in_use(busy_port: int) -> None:
    done = smi("webhook", "--plain-http", "--listen", f"127.0.0.1:{busy_port}")
    one_clear_line(done, says="address already in use")


def test_proxy_with_its_admin_port_in_use(busy_port: int) -> None:
    done = smi("proxy", "--control-plane", "http://127.0.0.1:9", "--namespace", "a", "--pod", "b",
               "--admin", f"127.0.0.1:{busy_port}", "--outbound", "127.0.0.1:0",
               "--inbound", "127.0.0.1:0")  # fmt: skip
    one_clear_line(done, says="address already in use")


def test_a_closed_stdout_is_a_quiet_exit() -> None:
    reader, writer = os.pipe()
    os.close(reader)
    done = subprocess.run(
        [sys.executable, "-m", "smi.cli.main", "--help"], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60
    )
    os.close(writer)
    assert "Traceback" not in done.stderr
