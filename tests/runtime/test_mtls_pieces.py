"""The local runtime's mTLS pieces in process: the CA in the state dir, pod tokens, the status view."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from smi.identity import AuthenticationFailed
from smi.model import ObjectMeta, Pod, PodSpec
from smi.runtime.mtls import RuntimeTls, RuntimeTlsError
from smi.runtime.settings import RuntimeSettings
from smi.runtime.tlsview import SidecarTls


def open_tls(state: Path, *, trust_domain: str = "cluster.local") -> RuntimeTls:
    return RuntimeTls.open(state_dir=state, mode="strict", trust_domain=trust_domain, runtime_address="127.1.0.1")


def a_pod(name: str = "web-1", account: str = "web") -> Pod:
    return Pod(meta=ObjectMeta(name=name, namespace="shop"), spec=PodSpec(service_account=account))


def test_the_ca_is_created_once_and_loaded_on_later_starts(tmp_path: Path) -> None:
    first = open_tls(tmp_path)
    second = open_tls(tmp_path)
    assert first.ca.status().active_root["sha256"] == second.ca.status().active_root["sha256"]
    assert second.bundle_path.read_text() == first.ca.trust_bundle_pem


def test_an_unusable_ca_dir_is_an_error_naming_it_never_a_new_ca(tmp_path: Path) -> None:
    open_tls(tmp_path)
    key = tmp_path / "ca" / "tls.key"
    key.write_text("not a key")
    with pytest.raises(RuntimeTlsError, match=r"the mesh CA cannot be used: .*/ca: cannot parse the CA files"):
        open_tls(tmp_path)
    assert key.read_text() == "not a key"
    with pytest.raises(RuntimeTlsError, match="trust domain"):
        (tmp_path / "other").mkdir()
        open_tls(tmp_path / "other", trust_domain="a.example")
        open_tls(tmp_path / "other", trust_domain="b.example")


async def test_a_pods_token_file_is_private_proves_its_service_account_and_is_revoked_when_it_goes(
    tmp_path: Path,
) -> None:
    tls = open_tls(tmp_path)
    credentials = tls.admit(a_pod())
    assert credentials.service_account == "web"
    assert stat.S_IMODE(credentials.token_file.stat().st_mode) == 0o600
    for folder in (credentials.token_file.parent, credentials.token_file.parent.parent, tmp_path / "pods"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # no other user can even list the pods
    assert credentials.token_file.stat().st_uid == os.getuid()
    who = await tls.tokens.authenticate(credentials.token_file.read_text().strip())
    assert (who.namespace, who.service_account, who.pod) == ("shop", "web", "web-1")
    flags = tls.sidecar_flags(credentials)
    assert flags[:2] == ["--mtls", "strict"] and flags[flags.index("--token-file") + 1] == str(credentials.token_file)
    assert flags[flags.index("--trust-bundle") + 1] == str(tls.bundle_path)
    token = credentials.token_file.read_text().strip()
    tls.forget("shop", "web-1")
    assert not credentials.token_file.parent.exists()
    with pytest.raises(AuthenticationFailed, match="unknown or was revoked"):
        await tls.tokens.authenticate(token)


def test_an_unknown_mtls_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="mtls: must be one of strict, permissive, off, got 'on'"):
        RuntimeSettings(manifests=None, state_dir=Path("/nonexistent"), mtls="on")


def test_the_status_view_reads_mode_expiry_and_inbound_outcomes_from_metrics() -> None:
    text = """\
# TYPE smi_mtls_mode gauge
smi_mtls_mode{mode="strict"} 1.0
smi_mtls_mode{mode="off"} 0.0
# TYPE smi_inbound_tls_connections_total counter
smi_inbound_tls_connections_total{result="mtls_accepted"} 7.0
smi_inbound_tls_connections_total{result="plaintext_refused"} 2.0
# TYPE smi_certificate_expiry_timestamp_seconds gauge
smi_certificate_expiry_timestamp_seconds 1.8e+09
"""
    view = SidecarTls.parse(text).as_json()
    assert view == {
        "mtls": "strict",
        "certificate_expiry": 1.8e9,
        "certificate_expires": "2027-01-15T08:00:00+00:00",
        "inbound_tls": {"mtls_accepted": 7, "plaintext_refused": 2},
    }
    assert SidecarTls.parse("{{ not metrics").as_json()["mtls"] is None
