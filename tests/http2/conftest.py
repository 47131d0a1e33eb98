"""Fixtures of the HTTP/2 tests: the proxy tests' loopback backends, on uvloop."""

from tests.proxy.harness import backends, event_loop_policy

__all__ = ["backends", "event_loop_policy"]
