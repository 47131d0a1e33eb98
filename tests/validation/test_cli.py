"""``smi validate`` and ``smi convert`` as a user runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from smi.cli.main import main

REPO = Path(__file__).resolve().parents[2]
GOOD = """\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata:
  name: web-split
  namespace: default
spec:
  service: web
  matches:
  - kind: HTTPRouteGroup
    name: firefox
  backends:
  - service: web-v1
    weight: 90
  - service: web-v2
    weight: 10
"""
BAD = GOOD.replace("weight: 10\n", "weight: -5\n")
WARN = GOOD.replace("service: web-v2", "service: web")


def test_validate_reports_the_error_line_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "split.yaml").write_text(BAD)
    assert main(["validate", "-f", str(tmp_path / "split.yaml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"{tmp_path}/split.yaml: TrafficSplit default/web-split: spec.backends[1].weight: must be >= 0, got -5"
    )
    assert out[-1] == "1 object checked: 1 error, 0 warnings"


def test_validate_walks_folders_and_warnings_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "good.yaml").write_text(GOOD + "---\n" + WARN.replace("web-split", "other"))
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert main(["validate", "-f", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "TrafficSplit default/other: spec.backends[1].service: warning: the root service 'web'" in out
    assert out.splitlines()[-1] == "2 objects checked: 0 errors, 1 warning"


def test_validate_stdin_and_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(BAD + "---\n- just a list\n---\n{{{"))
    assert main(["validate", "-f", "-", "-o", "json"]) == 1
    output = json.loads(capsys.readouterr().out)
    problems = output["problems"]
    assert problems[0] == {
        "severity": "error",
        "source": "<stdin>",
        "document": 0,
        "kind": "TrafficSplit",
        "namespace": "default",
        "name": "web-split",
        "path": "spec.backends[1].weight",
        "message": "must be >= 0, got -5",
        "line": "<stdin>: TrafficSplit default/web-split: spec.backends[1].weight: must be >= 0, got -5",
    }
    assert problems[1]["message"].startswith("a manifest must be a mapping")
    assert problems[1]["document"] == 1
    assert problems[2]["message"].startswith("not valid YAML")
    assert all(p["source"] == "<stdin>" for p in problems)
    assert output["summary"] == {"objects": 1, "errors": 3, "warnings": 0, "valid": False}


def test_validate_json_counts_warnings_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "split.yaml").write_text(WARN + "---\n" + GOOD.replace("web-split", "other"))
    assert main(["validate", "-f", str(tmp_path / "split.yaml"), "-o", "json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["summary"] == {"objects": 2, "errors": 0, "warnings": 1, "valid": True}
    (warning,) = output["problems"]
    assert warning["severity"] == "warning" and warning["path"] == "spec.backends[1].service"
    assert warning["source"] == str(tmp_path / "split.yaml") and warning["name"] == "web-split"


def test_validate_prints_every_problem_of_an_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    split = GOOD.replace("weight: 10\n", "weight: -5\n  - service: web-v1\n    weight: 3\n")
    routes = """\
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: api
spec:
  matches:
  - name: m
    methods: [GET, FETCH]
    pathRegex: "/(unclosed"
    headers: {user-agent: ".*", User-Agent: "x"}
"""
    (tmp_path / "all.yaml").write_text(split + "---\n" + routes)
    assert main(["validate", "-f", str(tmp_path / "all.yaml")]) == 1
    out = capsys.readouterr().out.splitlines()
    prefix = f"{tmp_path}/all.yaml: "
    assert out == [
        prefix + "TrafficSplit default/web-split: spec.backends[1].weight: must be >= 0, got -5",
        prefix + "TrafficSplit default/web-split: spec.backends[2].service: duplicate backend 'web-v1' "
        "(also spec.backends[0])",
        prefix + "HTTPRouteGroup default/api: spec.matches[0].methods[1]: must be an upper-case HTTP method or '*' "
        "(GET, HEAD, PUT, POST, DELETE, CONNECT, OPTIONS, TRACE, PATCH), got 'FETCH'",
        prefix + "HTTPRouteGroup default/api: spec.matches[0].pathRegex: invalid regex '/(unclosed': "
        "missing ), unterminated subpattern at position 1",
        prefix + "HTTPRouteGroup default/api: spec.matches[0].headers.User-Agent: duplicate header 'user-agent' "
        "(header names are case-insensitive)",
        "2 objects checked: 5 errors, 0 warnings",
    ]


def test_validate_missing_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", "/nonexistent/x.yaml"]) == 1
    assert "/nonexistent/x.yaml: document 1: no such file or folder" in capsys.readouterr().out


def test_bundled_manifests_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", str(REPO / "manifests" / "examples")]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.endswith("checked: 0 errors, 0 warnings") and int(summary.split()[0]) >= 16


def test_convert_preserves_what_the_target_cannot_express(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n"
    (tmp_path / "in.yaml").write_text(GOOD + "---\n" + service)
    assert main(["convert", "-f", str(tmp_path / "in.yaml"), "--to", "split.smi-spec.io/v1alpha2"]) == 0
    captured = capsys.readouterr()
    split, passed = yaml.safe_load_all(captured.out)
    assert split["apiVersion"] == "split.smi-spec.io/v1alpha2" and "matches" not in split["spec"]
    assert json.loads(split["metadata"]["annotations"]["smi-mesh.io/preserved-fields"]) == {
        "spec.matches": [{"kind": "HTTPRouteGroup", "name": "firefox"}]
    }
    assert passed == yaml.safe_load(service)
    assert (
        "TrafficSplit default/web-split: spec.matches: warning: split.smi-spec.io/v1alpha2 cannot express"
        in captured.err
    )
    (tmp_path / "old.yaml").write_text(captured.out)
    assert main(["convert", "-f", str(tmp_path / "old.yaml"), "--to", "split.smi-spec.io/v1alpha4"]) == 0
    back = next(yaml.safe_load_all(capsys.readouterr().out))
    assert back == yaml.safe_load(GOOD)


def test_convert_reports_the_unknown_fields_it_drops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.yaml").write_text(GOOD.replace("  service: web\n", "  service: web\n  owner: team-web\n"))
    assert main(["convert", "-f", str(tmp_path / "in.yaml"), "--to", "split.smi-spec.io/v1alpha3"]) == 0
    captured = capsys.readouterr()
    assert "owner" not in yaml.safe_load(captured.out)["spec"]
    assert "TrafficSplit default/web-split: spec.owner: warning: unknown field, ignored" in captured.err


def test_convert_strict_and_bad_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.yaml").write_text(GOOD)
    assert main(["convert", "-f", str(tmp_path / "in.yaml"), "--to", "split.smi-spec.io/v1alpha2", "--strict"]) == 1
    assert "cannot express spec.matches" in capsys.readouterr().err
    assert main(["convert", "-f", str(tmp_path / "in.yaml"), "--to", "split.smi-spec.io/v9"]) == 1
    assert "not a served SMI apiVersion" in capsys.readouterr().err
    routes = "apiVersion: specs.smi-spec.io/v1alpha3\nkind: TCPRoute\nmetadata:\n  name: r\nspec: {}\n"
    (tmp_path / "r.yaml").write_text(routes)
    assert main(["convert", "-f", str(tmp_path / "r.yaml"), "--to", "specs.smi-spec.io/v1alpha1"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["apiVersion"] == "specs.smi-spec.io/v1alpha1"
    udp = "apiVersion: specs.smi-spec.io/v1alpha4\nkind: UDPRoute\nmetadata:\n  name: r\n"
    udp += "spec:\n  matches:\n    ports: []\n"
    (tmp_path / "u.yaml").write_text(udp)
    assert main(["convert", "-f", str(tmp_path / "u.yaml"), "--to", "specs.smi-spec.io/v1alpha2"]) == 1
    assert "does not serve this kind" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text(BAD)
    assert main(["convert", "-f", str(tmp_path / "bad.yaml"), "--to", "split.smi-spec.io/v1alpha3"]) == 1
    assert "spec.backends[1].weight: must be >= 0, got -5" in capsys.readouterr().err
