"""The pytest side of the suite: which mesh to drive, and a fresh namespace per scenario.

``conformance/conftest.py`` and ``tests/conformance/conftest.py`` both import these
fixtures.  ``--kube`` (registered by ``conformance/conftest.py``) selects ``KubeDriver``;
otherwise one local mesh (``smi up``) is started for the whole run and each scenario class
gets its own namespace in it, whose objects are deleted when the class is done, so the
scenarios do not see each other's TrafficTargets and splits.  ``$SMI_CONFORMANCE_UP_ARGS``
adds flags to that ``smi up`` (e.g. ``--mtls off`` to compare with the mesh before mTLS).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator

import pytest

from conformance.drivers import MeshDriver
from conformance.scenario import Scenario, fresh_namespace


@pytest.fixture(scope="session")
def mesh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshDriver]:
    driver: MeshDriver
    if request.config.getoption("--kube", default=False):
        from conformance.drivers.kube import KubeDriver

        driver = KubeDriver(context=request.config.getoption("--kube-context", default=None))
    else:
        from conformance.drivers.local import LocalDriver

        extra = shlex.split(os.environ.get("SMI_CONFORMANCE_UP_ARGS", ""))
        driver = LocalDriver(work=tmp_path_factory.mktemp("conformance-mesh"), extra_args=extra)
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
