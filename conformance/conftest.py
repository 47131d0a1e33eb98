"""``pytest conformance/``: the local runtime by default, ``--kube`` for the current kubectl context."""

from __future__ import annotations

import pytest

from conformance.plugin import mesh, scenario

__all__ = ["mesh", "scenario"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption("--kube", action="store_true", help="run the scenarios against a cluster with kubectl")
    group.addoption("--kube-context", default=None, help="kubectl context for --kube (default: the current one)")
    group.addoption("--standin", action="store_true",
                    help="run the scenarios against the stand-in cluster (tests/cluster; root)")  # fmt: skip
