"""``smi ca init / status / rotate / retire`` on a CA directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smi.cli.main import main
from smi.identity import CertificateAuthority


def _status(ca_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["ca", "status", "--dir", str(ca_dir), "--json"]) == 0
    status: dict[str, object] = json.loads(capsys.readouterr().out)
    return status


def test_init_status_rotate_retire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca_dir = tmp_path / "ca"
    assert main(["ca", "init", "--dir", str(ca_dir), "--trust-domain", "mesh.example"]) == 0
    out = capsys.readouterr().out
    assert "trust domain:  mesh.example" in out and "state:         steady" in out
    first = _status(ca_dir, capsys)
    assert first["trust_domain"] == "mesh.example" and len(first["bundle"]) == 1  # type: ignore[arg-type]

    assert main(["ca", "rotate", "--dir", str(ca_dir)]) == 0
    assert "trust bundle:  2 root(s)" in capsys.readouterr().out
    rotating = _status(ca_dir, capsys)
    assert rotating["rotating"] and rotating["active_root"] != first["active_root"]
    assert first["active_root"] in rotating["bundle"]  # type: ignore[operator]

    assert main(["ca", "retire", "--dir", str(ca_dir)]) == 1  # old leaves may still be valid (24 h)
    assert "retire after that" in capsys.readouterr().err
    assert main(["ca", "retire", "--dir", str(ca_dir), "--leaf-lifetime", "0.001s"]) == 0
    capsys.readouterr()
    retired = _status(ca_dir, capsys)
    assert retired["bundle"] == [rotating["active_root"]] and not retired["rotating"]


def test_a_running_ca_picks_up_a_rotation_made_by_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = CertificateAuthority.open(tmp_path / "ca", trust_domain="cluster.local")
    assert main(["ca", "rotate", "--dir", str(tmp_path / "ca")]) == 0
    assert ca.refresh()
    assert ca.status().rotating


def test_init_refuses_to_overwrite_and_status_needs_a_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ca", "init", "--dir", str(tmp_path / "ca")]) == 0
    assert main(["ca", "init", "--dir", str(tmp_path / "ca")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert main(["ca", "status", "--dir", str(tmp_path / "none")]) == 1
    assert "no CA here" in capsys.readouterr().err
    (tmp_path / "ca" / "tls.key").write_text("broken")
    assert main(["ca", "status", "--dir", str(tmp_path / "ca")]) == 1
    assert "cannot parse the CA files" in capsys.readouterr().err
