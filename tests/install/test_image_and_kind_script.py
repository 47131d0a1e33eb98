"""The Dockerfile and conformance/kind/run.sh agree with the manifests (neither can run here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from smi.cluster.options import InstallOptions
from smi.cluster.rendering import render
from smi.injection import NAMESPACE_LABEL

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


def test_run_sh_installs_with_smi_install_and_checks_it() -> None:
    script = RUN_SH.read_text()
    objects = render(InstallOptions(), secrets=None)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "smi-controller"]
    assert 'smi install --image "$IMAGE"' in script
    assert f"deployment/{deployment['metadata']['name']}" in script
    assert "smi check" in script and "smi namespace add" in script
    assert "openssl" not in script and "kubectl patch" not in script  # the control plane makes the certificates
    assert f'MESH_LABEL="{NAMESPACE_LABEL}"' in script
    assert (REPO / "conformance/kind/kind-config.yaml").is_file()
    assert 'kind load docker-image --name "$CLUSTER" "$IMAGE"' in script
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert f'IMAGE="${{IMAGE:-{image}}}"' in script
    assert "pytest conformance/ --kube" in script


def test_run_sh_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    done = subprocess.run(["shellcheck", str(RUN_SH)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout
