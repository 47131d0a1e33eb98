"""The pytest side of the suite: which mesh to drive, and a fresh namespace per scenario.

``conformance/conftest.py`` and ``tests/conformance/conftest.py`` both import these
fixtures.  ``--kube`` (registered by ``conformance/conftest.py``) selects ``KubeDriver``;
otherwise one local mesh (``smi up``) is started for the whole run and each scenario class
gets its own namespace in it, whose objects are deleted when the class is done, so the
scenarios do not see each other's TrafficTargets and splits.  ``$SMI_CONFORMANCE_UP_ARGS``
adds flags to that ``smi up`` (e.g. ``--mtls off`` to compare with the mesh before mTLS).
Locally, every scenario runs twice: ``loopback`` (the default isolation) and ``netns``
(``--isolation netns`` with a deny egress policy that allows ``EGRESS_ALLOWED_HOST``;
skipped with the reason when not root).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.drivers import MeshDriver
from conformance.scenario import Scenario, fresh_namespace

# With --isolation netns the mesh denies egress except to this outside host (the capture scenarios).
EGRESS_ALLOWED_HOST = "198.19.200.10"
EGRESS_DENIED_HOST = "198.19.200.11"


def _netns_args(work: Path) -> list[str]:
    policy = work / "egress.yaml"
    policy.write_text(f"mode: deny\nallow:\n  - cidrs: [{EGRESS_ALLOWED_HOST}/32]\n")
    return ["--isolation", "netns", "--egress-policy", str(policy)]


@pytest.fixture(scope="session", params=["loopback", "netns"])
def mesh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshDriver]:
    """One mesh per isolation mode of the local runtime (``netns`` needs root), or the cluster."""
    driver: MeshDriver
    kube = request.config.getoption("--kube", default=False)
    if request.config.getoption("--standin", default=False):
        if request.param != "loopback":
            pytest.skip("isolation modes are a local-runtime matter (--standin runs once)")
        from smi.runtime.netns import missing

        reason = missing()
        if reason is not None:
            pytest.skip(f"--standin: {reason}")
        from conformance.drivers.standin import StandInDriver

        driver = StandInDriver(work=tmp_path_factory.mktemp("conformance-standin"))
    elif kube:
        if request.param != "loopback":
            pytest.skip("isolation modes are a local-runtime matter (--kube runs once)")
        from conformance.drivers.kube import KubeDriver

        driver = KubeDriver(context=request.config.getoption("--kube-context", default=None))
    else:
        from conformance.drivers.local import LocalDriver

        work = tmp_path_factory.mktemp(f"conformance-{request.param}")
        extra = shlex.split(os.environ.get("SMI_CONFORMANCE_UP_ARGS", ""))
        if request.param == "netns":
            from smi.runtime.netns import missing

            reason = missing()
            if reason is not None:
                pytest.skip(f"--isolation netns: {reason}")
            extra += _netns_args(work)
        driver = LocalDriver(work=work, extra_args=extra)
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture(scope="class")
def scenario(mesh: MeshDriver) -> Iterator[Scenario]:
    namespace = fresh_namespace()
    mesh.create_namespace(namespace)
    try:
        yield Scenario(mesh, namespace)
    finally:
        mesh.delete_namespace(namespace)
