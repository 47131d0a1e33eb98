"""The active config version: its compiled tables and its runtime, swapped atomically.

Connections read ``holder.runtime`` (the ``ConfigRuntime``, whose ``compiled`` is the
``CompiledConfig``; ``holder.current`` is a shortcut to it) when a request (or TCP
connection) starts and keep that object for its lifetime; ``swap`` replaces the reference
in one assignment, so requests in flight finish on the version they started with.
``ready`` is set by the first config.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from proxy.compiled import CompiledConfig, compile_config
from proxy.metrics import Metrics
from proxy.runtime import ConfigRuntime
from smi.proxyconfig import ProxyConfig

logger = logging.getLogger(__name__)


class ConfigHolder:
    def __init__(self, metrics: Metrics) -> None:
        self.runtime: ConfigRuntime | None = None
        self.metrics = metrics
        self.ready = asyncio.Event()
        self.on_swap: list[Callable[[CompiledConfig], None]] = []  # e.g. HTTP/2 GOAWAY (proxy.http2.listeners)

    @property
    def current(self) -> CompiledConfig | None:
        runtime = self.runtime
        return runtime.compiled if runtime is not None else None

    def swap(self, config: ProxyConfig, *, version: int) -> CompiledConfig:
        compiled = compile_config(config, version=version)
        for problem in compiled.problems:
            logger.warning("config version %d: %s", version, problem)
        self.metrics.set_level(compiled.monitoring)  # before the swap: new targets count under the new level
        self.runtime = ConfigRuntime(compiled, previous=self.runtime)
        self.metrics.config_version = version
        self.metrics.config_updates += 1
        self.ready.set()
        logger.info("config version %d applied", version)
        for callback in list(self.on_swap):
            try:
                callback(compiled)
            except Exception:
                logger.exception("config version %d: a swap listener failed", version)
        return compiled
