"""Runs every SMI conformance scenario (``conformance/test_*.py``) against the local runtime.

The scenario classes are imported, not copied: ``pytest conformance/`` runs the same code,
and ``pytest conformance/ --kube`` runs it against a cluster.  One ``smi up`` serves the
whole module per isolation mode (loopback, and netns when root); each scenario class gets
its own namespace in it.
"""

from __future__ import annotations

from conformance.test_capture import TestCapture
from conformance.test_identity import TestIdentity
from conformance.test_traffic_access import TestTrafficAccess
from conformance.test_traffic_specs import TestTrafficSpecs
from conformance.test_traffic_split import TestTrafficSplit
from conformance.test_udp import TestUdp

__all__ = ["TestCapture", "TestIdentity", "TestTrafficAccess", "TestTrafficSpecs", "TestTrafficSplit", "TestUdp"]
