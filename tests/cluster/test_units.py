"""The cluster pieces on their own: Lease election, serving-certificate rotation, the applier's
comparison, the CLI's one-line errors, smi inject."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import kmock
import pytest
import yaml

from smi.cluster.applying import contains
from smi.cluster.certificates import CA_CERT, CA_KEY, ServingCertificate, new_webhook_ca
from smi.cluster.leasing import LeaseElector
from smi.cluster.restclient import RestClient
from tests.cluster.controlplane import REPO
from tests.controllers.conftest import Emulator
from tests.distribution.helpers import wait_until

LEASES = "coordination.k8s.io/v1/leases"


@pytest.fixture
async def api() -> AsyncIterator[RestClient]:
    async with Emulator() as emulator, kmock.Server(emulator):
        emulator.resources[LEASES] = kmock.ResourceInfo(kind="Lease", namespaced=True,
                                                       verbs={"get", "create", "patch", "list"})  # fmt: skip
        client = RestClient(server=str(emulator.url))
        try:
            yield client
        finally:
            await client.close()


def elector(api: RestClient, name: str, changes: list[tuple[str, bool]]) -> LeaseElector:
    return LeaseElector(api, namespace="smi-system", name="smi-controller", identity=name, duration=3,
                        on_change=lambda leading: changes.append((name, leading)))  # fmt: skip


async def test_one_replica_leads_the_other_takes_over_when_it_stops_renewing(api: RestClient) -> None:
    changes: list[tuple[str, bool]] = []
    a, b = elector(api, "a", changes), elector(api, "b", changes)
    assert await a.try_once() is True
    assert await b.try_once() is False  # held and fresh
    assert await a.try_once() is True  # renewed
    lease = await api.get(a.path)
    assert lease is not None and lease["spec"]["holderIdentity"] == "a"
    # a stops renewing (killed): once the Lease is older than its duration, b takes it
    stop = asyncio.Event()
    task = asyncio.create_task(b.run(stop))
    try:
        await wait_until(lambda: b.leading, within=15, what="b to take the expired Lease")
        lease = await api.get(a.path)
        assert lease is not None and lease["spec"]["holderIdentity"] == "b"
        assert lease["spec"]["leaseTransitions"] == 1
    finally:
        stop.set()
        await task
    # a clean stop releases it: a takes over at once, without waiting for expiry
    assert ("b", False) in changes
    assert await a.try_once() is True


async def test_the_api_server_gone_makes_a_leader_step_down_after_its_duration(api: RestClient) -> None:
    changes: list[tuple[str, bool]] = []
    a = elector(api, "a", changes)
    a.duration = 0.6
    gone = RestClient(server="http://127.0.0.1:9")  # nothing listens on the discard port
    a.api = api
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop))
    try:
        await wait_until(lambda: a.leading, within=10, what="a to lead")
        a.api = gone
        await wait_until(lambda: not a.leading, within=10, what="a to step down")
    finally:
        stop.set()
        await task
        await gone.close()
    assert changes == [("a", True), ("a", False)]


def test_a_serving_certificate_is_reissued_at_half_its_life_and_when_the_ca_changes(tmp_path: Path) -> None:
    ca = new_webhook_ca()
    for name, data in ca.files().items():
        (tmp_path / name).write_bytes(data)
    serving = ServingCertificate(tmp_path, dns_names=["smi-controller.smi-system.svc"],
                                 lifetime=datetime.timedelta(hours=1))  # fmt: skip
    first = serving.serial
    assert serving.refresh() is False and serving.serial == first  # young and the same CA
    serving.not_before -= datetime.timedelta(minutes=31)  # as if issued 31 minutes ago: past half its life
    serving.not_after -= datetime.timedelta(minutes=31)
    assert serving.refresh() is True and serving.serial != first
    second = serving.serial
    other = new_webhook_ca()  # the Secret was rotated
    (tmp_path / CA_CERT).write_bytes(other.cert_pem)
    (tmp_path / CA_KEY).write_bytes(other.key_pem)
    assert serving.refresh() is True and serving.serial != second
    (tmp_path / CA_KEY).write_bytes(b"half-written")  # a Secret being rewritten: keep serving
    assert serving.refresh() is False


def test_contains_ignores_what_the_server_adds_but_not_a_changed_value() -> None:
    live = {"spec": {"replicas": 2, "template": {"containers": [{"name": "c", "image": "x", "tmp": "default"}]}},
            "status": {}}  # fmt: skip
    assert contains(live, {"spec": {"replicas": 2, "template": {"containers": [{"name": "c", "image": "x"}]}}})
    assert not contains(live, {"spec": {"replicas": 3}})
    assert not contains(live, {"spec": {"template": {"containers": [{"name": "c"}, {"name": "d"}]}}})


def smi(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smi.cli.main", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=REPO, env=env)  # fmt: skip


def test_an_unreachable_api_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        textwrap.dedent("""\
        apiVersion: v1
        kind: Config
        current-context: gone
        clusters: [{name: gone, cluster: {server: "http://127.0.0.1:9"}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: gone, context: {cluster: gone, user: u, namespace: shop}}]
    """)
    )
    checked = smi("check", "--kubeconfig", str(config))  # smi check reports it as its first check
    assert checked.returncode == 1 and checked.stderr == "", checked.stderr
    assert "[FAIL] the API server answers: cannot reach the API server at http://127.0.0.1:9" in checked.stdout
    for args in (["install"], ["uninstall"], ["namespace", "add", "shop"]):
        done = smi(*args, "--kubeconfig", str(config))
        assert done.returncode == 1, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot reach the API server at http://127.0.0.1:9" in lines[0], (args, lines)
    done = smi("check", "--kubeconfig", str(config), "--context", "nope")
    assert done.returncode == 1 and "no context named 'nope'" in done.stderr
    missing = smi("check", "--kubeconfig", str(tmp_path / "absent"))
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_smi_inject_marks_every_pod_template_and_passes_the_rest_through() -> None:
    text = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: web}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        ---
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: nightly}
        spec: {jobTemplate: {spec: {template: {metadata: {annotations: {smi-mesh.io/inject: "false"}},
                                               spec: {containers: [{name: job, image: job}]}}}}}
    """)
    done = smi("inject", "-f", "-", stdin=text)
    assert done.returncode == 0, done.stderr
    deployment, service, cronjob = yaml.safe_load_all(done.stdout)
    meta = deployment["spec"]["template"]["metadata"]
    assert meta["annotations"]["smi-mesh.io/inject"] == "enabled" and meta["labels"]["smi-mesh.io/inject"] == "enabled"
    assert meta["labels"]["app"] == "web"
    assert service == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"] == {
        "smi-mesh.io/inject": "false"
    }  # an opted-out pod stays out
    manual = smi("inject", "-f", "-", "--manual", stdin=text)
    (deployment, _, _) = yaml.safe_load_all(manual.stdout)
    assert [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] == ["web", "smi-proxy"]
    bad = smi("inject", "-f", "/nonexistent.yaml")
    assert bad.returncode == 1 and bad.stderr.strip() == "smi inject: /nonexistent.yaml: No such file or directory"
