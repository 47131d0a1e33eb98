"""Every manifest in tests/fixtures/invalid/ is rejected, with the expected field and reason.

Each file starts with ``# expect: <field path>`` and ``# message: <text in the reason>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smi.loading import load_documents
from smi.validation.validating import validate_documents

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))


def _header(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}: "):
            return line.split(": ", 1)[1]
    raise AssertionError(f"{path.name} has no '# {key}:' line")


def test_corpus_is_large_and_covers_every_kind() -> None:
    assert len(FILES) >= 40
    text = "\n".join(f.read_text() for f in FILES)
    for kind in ("TrafficSplit", "TrafficTarget", "HTTPRouteGroup", "TCPRoute", "UDPRoute"):
        assert f"kind: {kind}" in text
    for version in (
        "split.smi-spec.io/v1alpha1",
        "split.smi-spec.io/v1alpha2",
        "split.smi-spec.io/v1alpha3",
        "split.smi-spec.io/v1alpha4",
        "access.smi-spec.io/v1alpha1",
        "access.smi-spec.io/v1alpha2",
        "access.smi-spec.io/v1alpha3",
        "specs.smi-spec.io/v1alpha1",
        "specs.smi-spec.io/v1alpha2",
        "specs.smi-spec.io/v1alpha3",
        "specs.smi-spec.io/v1alpha4",
    ):
        assert f"apiVersion: {version}\n" in text, version


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_invalid_manifest_is_rejected_at_the_expected_field(path: Path) -> None:
    expected_path, expected_message = _header(path, "expect"), _header(path, "message")
    problems = validate_documents(load_documents([path]))
    errors = [p for p in problems if p.is_error]
    assert errors, f"{path.name} was accepted"
    matching = [p for p in errors if p.path == expected_path]
    assert matching, f"no error at {expected_path}; got: " + "; ".join(str(p) for p in errors)
    assert any(expected_message in p.message for p in matching), "; ".join(str(p) for p in matching)
    line = str(matching[0])
    assert line.startswith(f"{path}: ") and f": {expected_path}: " in line
