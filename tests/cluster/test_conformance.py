"""The SMI conformance scenarios against the stand-in cluster (``conformance/drivers/standin.py``).

The scenario classes are imported, not copied; one stand-in cluster serves the module,
each scenario class gets its own namespace in it.  Root and ``ip netns`` only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.drivers import MeshDriver
from conformance.plugin import scenario
from conformance.test_identity import TestIdentity
from conformance.test_traffic_access import TestTrafficAccess
from conformance.test_traffic_specs import TestTrafficSpecs
from conformance.test_traffic_split import TestTrafficSplit
from smi.runtime import netns

__all__ = ["TestIdentity", "TestTrafficAccess", "TestTrafficSpecs", "TestTrafficSplit", "scenario"]

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshDriver]:
    reason = netns.missing()
    if reason is not None:
        pytest.skip(reason)
    from conformance.drivers.standin import StandInDriver

    driver = StandInDriver(work=tmp_path_factory.mktemp("standin"))
    try:
        yield driver
    finally:
        driver.close()
