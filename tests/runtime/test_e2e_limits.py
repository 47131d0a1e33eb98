"""``replicas: 100000`` does not start 100,000 processes: the runtime caps the pods and says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.runtime import manifests as m
from tests.runtime.harness import Mesh, wait_for

pytestmark = pytest.mark.timeout(180)


def test_replicas_beyond_max_pods_are_not_started_and_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "all.yaml").write_text(m.NAMESPACE + "---\n" + m.store("v1", replicas=100_000))
    mesh = Mesh(manifests=folder, work=tmp_path, extra_args=("--max-pods", "2"))
    try:

        def two_ready() -> dict[str, Any] | None:
            status = mesh.status()
            return status if sum(p["ready"] for p in status["pods"]) == 2 else None

        status = wait_for("two pods ready", two_ready, within=90)
        assert len(status["pods"]) == 2
        expected = "Deployment shop/store-v1: replicas 100000: the local runtime runs at most 2 pods"
        assert any(expected in problem for problem in status["problems"]), status["problems"]
        assert expected in mesh.output()
    finally:
        mesh.close()
