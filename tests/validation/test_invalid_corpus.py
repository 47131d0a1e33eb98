"""Every manifest in tests/fixtures/invalid/ is rejected, with the expected field and reason.

Each file starts with ``# expect: <field path>`` and ``# message: <text in the reason>``.
Optional lines:

* ``# also: <field path>: <text>`` -- a further error that must be reported too (every
  problem of an object is printed, schema and semantic ones together);
* ``# only: <field path>`` -- exactly one problem is reported at that field (a problem the
  schema reports is not repeated by a semantic check).

tests/fixtures/warnings/ holds manifests that are accepted (no errors, so ``smi validate``
exits 0) with a warning; each starts with ``# warn: <field path>`` and ``# message:``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smi.loading import load_documents
from smi.model.parsing import parse
from smi.validation.validating import validate_documents

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FILES = sorted((FIXTURES / "invalid").glob("*.yaml"))
WARNING_FILES = sorted((FIXTURES / "warnings").glob("*.yaml"))


def _headers(path: Path, key: str) -> list[str]:
    prefix = f"# {key}: "
    return [line[len(prefix) :] for line in path.read_text().splitlines() if line.startswith(prefix)]


def _header(path: Path, key: str) -> str:
    found = _headers(path, key)
    assert found, f"{path.name} has no '# {key}:' line"
    return found[0]


def test_corpus_is_large_and_covers_every_kind() -> None:
    assert len(FILES) >= 40
    assert len(WARNING_FILES) >= 10
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
    for also in _headers(path, "also"):
        field, _, message = also.partition(": ")
        assert any(p.path == field and message in p.message for p in errors), f"missing {also!r}; got: " + "; ".join(
            str(p) for p in errors
        )
    for field in _headers(path, "only"):
        at_field = [p for p in problems if p.path == field]
        assert len(at_field) == 1, "; ".join(str(p) for p in at_field)
    assert len(set(problems)) == len(problems), "a problem was reported twice"


@pytest.mark.parametrize("path", WARNING_FILES, ids=[f.stem for f in WARNING_FILES])
def test_warning_manifest_is_accepted_with_the_expected_warning(path: Path) -> None:
    expected_path, expected_message = _header(path, "warn"), _header(path, "message")
    documents = load_documents([path])
    problems = validate_documents(documents)
    assert not [p for p in problems if p.is_error], "; ".join(str(p) for p in problems)
    matching = [p for p in problems if p.path == expected_path]
    assert any(expected_message in p.message for p in matching), "; ".join(str(p) for p in problems)
    assert str(matching[0]).startswith(f"{path}: ") and f": {expected_path}: warning: " in str(matching[0])
    for document in documents:
        assert document.raw is not None
        parse(document.raw, source=str(path))  # the runtime accepts it too
