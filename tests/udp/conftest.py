"""The UDP tests use the proxy tests' harness (uvloop policy) and their control plane with a real CA."""

from tests.proxy.harness import event_loop_policy
from tests.proxy.test_mtls_e2e import cp

__all__ = ["cp", "event_loop_policy"]
