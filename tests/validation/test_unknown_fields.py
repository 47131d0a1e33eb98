"""Unknown fields: a warning (the API server prunes them), an error when a known field is misplaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smi.cli.main import main
from smi.crds import build_crd
from smi.model.parsing import check, parse

TCP = """\
apiVersion: specs.smi-spec.io/v1alpha4
kind: {kind}
metadata:
  name: db
spec:
  matches:
    name: db
    ports: [5432]
"""


@pytest.mark.parametrize("kind", ["TCPRoute", "UDPRoute"])
def test_l4_match_name_is_accepted_with_a_warning(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(TCP.format(kind=kind))
    assert main(["validate", "-f", str(tmp_path / "r.yaml")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path}/r.yaml: {kind} default/db: spec.matches.name: warning: "
        "ignored: not part of the CRD schema, the API server prunes it",
        "1 object checked: 0 errors, 1 warning",
    ]


def test_the_crds_do_not_declare_the_ignored_field() -> None:
    for kind in ("TCPRoute", "UDPRoute"):
        schema = build_crd(kind)["spec"]["versions"][-1]["schema"]["openAPIV3Schema"]
        matches = schema["properties"]["spec"]["properties"]["matches"]
        assert set(matches["properties"]) == {"ports"} and not any(k.startswith("x-smi") for k in matches)


def _warnings_and_errors(raw: dict[str, Any]) -> tuple[list[str], list[str]]:
    problems = check(raw).problems
    return (
        [f"{p.path}: {p.message}" for p in problems if not p.is_error],
        [f"{p.path}: {p.message}" for p in problems if p.is_error],
    )


def test_an_extra_field_is_a_warning_naming_it_and_the_object_still_parses() -> None:
    raw = {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": {"name": "s"},
        "team": "web",
        "spec": {"service": "web", "backends": [{"service": "a", "weight": 1, "wieght": 2}]},
    }
    warnings, errors = _warnings_and_errors(raw)
    assert errors == []
    assert warnings == [
        "team: unknown field, ignored: not part of the CRD schema, the API server prunes it",
        "spec.backends[0].wieght: unknown field, ignored: not part of the CRD schema, the API server prunes it; "
        "did you mean 'weight'?",
    ]
    assert parse(raw).backends[0].weight == 1


@pytest.mark.parametrize(
    ("raw", "path", "reason"),
    [
        (
            {
                "apiVersion": "specs.smi-spec.io/v1alpha4",
                "kind": "HTTPRouteGroup",
                "metadata": {"name": "r"},
                "matches": [{"name": "m"}],
            },
            "matches",
            "unknown field; in specs.smi-spec.io/v1alpha4 'matches' belongs under 'spec'",
        ),
        (
            {
                "apiVersion": "split.smi-spec.io/v1alpha2",
                "kind": "TrafficSplit",
                "metadata": {"name": "s"},
                "spec": {
                    "service": "web",
                    "backends": [{"service": "a", "weight": 1}],
                    "matches": [{"kind": "HTTPRouteGroup", "name": "r"}],
                },
            },
            "spec.matches",
            "unknown field in split.smi-spec.io/v1alpha2 (only v1alpha3, v1alpha4 have it); "
            "the API server would drop it and change what the object means",
        ),
        (
            {
                "apiVersion": "specs.smi-spec.io/v1alpha1",
                "kind": "TCPRoute",
                "metadata": {"name": "r"},
                "spec": {"matches": {"ports": [80]}},
            },
            "spec",
            "unknown field; specs.smi-spec.io/v1alpha1 has no 'spec' (its fields sit at the top level)",
        ),
    ],
)
def test_a_misplaced_known_field_stays_an_error(raw: dict[str, Any], path: str, reason: str) -> None:
    _, errors = _warnings_and_errors(raw)
    assert f"{path}: {reason}" in errors
