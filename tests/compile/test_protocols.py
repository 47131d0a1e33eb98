"""Port protocol decision (docs/semantics.md, "Port protocol")."""

from __future__ import annotations

import pytest

from smi.compile.protocols import port_protocol


@pytest.mark.parametrize(
    ("name", "protocol", "app_protocol", "expected"),
    [
        ("dns", "UDP", None, "udp"),
        ("http", "UDP", "http", "udp"),
        ("anything", "TCP", "tcp", "tcp"),
        ("tcp-raw", "TCP", "https", "http"),
        ("x", "TCP", "grpc", "http2"),
        ("x", "TCP", "kubernetes.io/h2c", "http2"),
        ("x", "TCP", "h2c", "http2"),
        ("x", "TCP", "http2", "http2"),
        ("grpc-api", "TCP", "http", "http"),
        ("tcp-db", "TCP", "mysql", "tcp"),  # unknown appProtocol: fall back to the name
        ("http", "TCP", None, "http"),
        ("http-admin", "TCP", None, "http"),
        ("grpc", "TCP", None, "http2"),
        ("grpc-api", "TCP", None, "http2"),
        ("h2c-x", "TCP", None, "http2"),
        ("http2", "TCP", None, "http2"),
        ("tcp", "TCP", None, "tcp"),
        ("tcp-postgres", "TCP", None, "tcp"),
        ("tcpish", "TCP", None, "detect"),  # says nothing: the sidecar detects
        ("postgres", "TCP", None, "detect"),
        ("", "TCP", None, "detect"),
    ],
)
def test_port_protocol(name: str, protocol: str, app_protocol: str | None, expected: str) -> None:
    assert port_protocol(name=name, protocol=protocol, app_protocol=app_protocol) == expected
