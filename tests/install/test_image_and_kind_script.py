"""The Dockerfile and conformance/kind/run.sh agree with the manifests (neither can run here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RUN_SH = REPO / "conformance" / "kind" / "run.sh"


def test_the_image_installs_iptables_and_the_package_and_runs_smi_unprivileged() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"apt-get install .*\biptables\b", text)
    assert re.search(r"^RUN pip install \.", text, re.M)
    assert re.search(r'^ENTRYPOINT \["smi"\]', text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root"))
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_run_sh_uses_the_names_the_manifests_define() -> None:
    script = RUN_SH.read_text()
    controller = list(yaml.safe_load_all((REPO / "manifests/install/controller.yaml").read_text()))
    webhook = yaml.safe_load((REPO / "manifests/install/webhook.yaml").read_text())
    secrets = [v["secret"]["secretName"] for v in controller[0]["spec"]["template"]["spec"]["volumes"]]
    assert "smi-webhook-tls" in secrets and "secret tls smi-webhook-tls" in script
    assert f"mutatingwebhookconfiguration {webhook['metadata']['name']}" in script
    assert "deployment/smi-controller" in script
    key = webhook["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["key"]
    assert f'MESH_LABEL="{key}"' in script
    assert (REPO / "conformance/kind/kind-config.yaml").is_file()
    assert 'kind load docker-image --name "$CLUSTER" "$IMAGE"' in script
    image = controller[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert f'IMAGE="${{IMAGE:-{image}}}"' in script
    assert "pytest conformance/ --kube" in script


def test_run_sh_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    done = subprocess.run(["shellcheck", str(RUN_SH)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout
