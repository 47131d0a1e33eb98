"""Fixtures of the proxy tests (helpers live in ``harness``)."""

from tests.proxy.harness import backends, event_loop_policy

__all__ = ["backends", "event_loop_policy"]
