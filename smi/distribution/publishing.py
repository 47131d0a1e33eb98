"""The compile loop: from a coalesced store change to messages queued on proxy streams.

On every coalesced change the publisher takes one snapshot and recompiles the config of
every *connected* proxy (memoised by snapshot version and pod, so several streams of one
pod cost one compile).  Re-encoding is avoided where the compile shows nothing changed:
a proxy whose new config equals the one it was last encoded from keeps its JSON text
(cheap: the incremental compile hands back the very same sub-objects), and the encodings
of shared sub-objects (clusters, services) are kept from one refresh to the next.

A proxy gets a message only when its config differs from what it last received; each
proxy identity has its own version counter that grows by one with every distinct config,
and a reconnecting proxy whose config has not changed gets the same version again.

The synced gate: until ``mark_synced()`` the publisher sends nothing, so no proxy ever
sees a config compiled from a half-listed cluster.  ``hold()`` closes the gate again (a
controller restart re-lists everything); the streams stay open and keep their last
config, and after the next ``mark_synced()`` they only get a message if something really
changed.  A proxy whose pod is unknown keeps an open, silent stream and gets its first
config as soon as the pod appears.  A compile that raises is logged and counted, and the
proxy keeps its last config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from smi.distribution.coalescing import Coalescer
from smi.distribution.identity import ProxyId
from smi.distribution.metrics import DistributionMetrics
from smi.distribution.streams import Message, Subscription
from smi.proxyconfig import ProxyConfig
from smi.proxyconfig.canonical import SharedEncodings, canonical
from smi.state import Snapshot, Store

logger = logging.getLogger(__name__)

HEARTBEAT: Message = b'{"type": "heartbeat"}\n'
DEFAULT_QUEUE_SIZE = 8


class ProxyCompiler(Protocol):
    def __call__(self, snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None: ...


def config_message(*, version: int, config_json: str) -> Message:
    return b'{"type":"config","version":%d,"config":%s}\n' % (version, config_json.encode())


class _Issued:
    """What one proxy identity was last given: its config text, version and wire message."""

    __slots__ = ("config_json", "message", "version")

    def __init__(self, *, version: int, config_json: str) -> None:
        self.version = version
        self.config_json = config_json
        self.message = config_message(version=version, config_json=config_json)


class Publisher:
    def __init__(
        self,
        *,
        store: Store,
        compiler: ProxyCompiler,
        metrics: DistributionMetrics | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        synced: bool = False,
    ) -> None:
        self.store = store
        self.compiler = compiler
        self.metrics = metrics or DistributionMetrics()
        self.queue_size = queue_size
        self._subs: dict[ProxyId, list[Subscription]] = {}
        self._issued: dict[ProxyId, _Issued] = {}
        self._memo_version = -1
        self._memo: dict[ProxyId, str | None] = {}
        self._shared = SharedEncodings()
        self._encoded: dict[ProxyId, tuple[ProxyConfig, str]] = {}  # the config each JSON text came from
        self.published_version = -1  # the snapshot version of the last complete refresh
        self._published = asyncio.Event()
        self._synced = synced
        self._synced_event = asyncio.Event()
        if synced:
            self._synced_event.set()

    # -- the synced gate -------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced

    def hold(self) -> None:
        """Close the gate: publish nothing until the next ``mark_synced()``."""
        self._synced = False
        self._synced_event.clear()

    def mark_synced(self) -> None:
        """Open the gate and bring every connected proxy up to date."""
        self._synced = True
        self._synced_event.set()
        self.refresh()

    async def wait_synced(self) -> None:
        await self._synced_event.wait()

    # -- subscriptions -----------------------------------------------------------------

    def subscribe(self, proxy: ProxyId, *, on_overflow: Callable[[], None] | None = None) -> Subscription:
        """Open a stream for ``proxy``; its current config (if any) is queued at once."""
        sub = Subscription(proxy, maxsize=self.queue_size, on_overflow=on_overflow)
        self._subs.setdefault(proxy, []).append(sub)
        self.metrics.streams.inc()
        if self._synced:
            self._update(proxy, self.store.snapshot(), [sub])
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.proxy, [])
        if sub in subs:
            subs.remove(sub)
            self.metrics.streams.dec()
        if not subs:
            self._subs.pop(sub.proxy, None)
            self._encoded.pop(sub.proxy, None)
        sub.close()

    def close_all(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()

    @property
    def connected(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def connected_versions(self) -> list[tuple[ProxyId, int]]:
        """(proxy, the config version last sent on its stream) of every proxy streaming from here now."""
        return sorted(
            ((proxy, max(s.last_version for s in subs)) for proxy, subs in self._subs.items()
             if subs and max(s.last_version for s in subs) > 0),
            key=lambda pv: (pv[0].namespace, pv[0].pod),
        )  # fmt: skip

    def issued(self, proxy: ProxyId) -> tuple[int, str] | None:
        """(version, config JSON) last issued to ``proxy``, if any."""
        got = self._issued.get(proxy)
        return None if got is None else (got.version, got.config_json)

    # -- compiling and pushing ---------------------------------------------------------------

    def refresh(self) -> int:
        """Recompile every connected proxy against the current snapshot; returns messages queued."""
        if not self._synced:
            return 0
        started = time.perf_counter()
        snapshot = self.store.snapshot()
        queued = 0
        for proxy, subs in list(self._subs.items()):
            queued += self._update(proxy, snapshot, list(subs))
        self.metrics.refresh_seconds.observe(time.perf_counter() - started)
        self.published_version = snapshot.version
        self._published.set()
        return queued

    async def wait_published(self, version: int, *, within: float) -> bool:
        """Wait (at most ``within`` seconds) until a refresh has pushed ``version`` or newer.

        Lets work that is not on the change-to-proxy path (status writing) run after the
        configs of that change are queued, not before.  False when it timed out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.published_version < version:
            self._published.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._published.wait(), timeout=left)
            except TimeoutError:
                return self.published_version >= version
        return True

    async def run(self, coalescer: Coalescer) -> None:
        """Refresh after every coalesced batch of store changes, for ever."""
        unsubscribe = self.store.subscribe(coalescer.poke)
        try:
            while True:
                await coalescer.wait()
                self.refresh()
        finally:
            unsubscribe()

    def _compiled(self, proxy: ProxyId, snapshot: Snapshot) -> str | None:
        if snapshot.version != self._memo_version:
            self._memo_version = snapshot.version
            self._memo = {}
            self._shared.advance()
        if proxy in self._memo:
            return self._memo[proxy]
        self.metrics.compiles.inc()
        config = self.compiler(snapshot, namespace=proxy.namespace, pod=proxy.pod)
        result: str | None = None
        if config is not None:
            before = self._encoded.get(proxy)
            if before is not None and (before[0] is config or before[0] == config):
                result = before[1]
            else:
                result = canonical(config, shared=self._shared)
                self._encoded[proxy] = (config, result)
        self._memo[proxy] = result
        return result

    def _update(self, proxy: ProxyId, snapshot: Snapshot, subs: list[Subscription]) -> int:
        try:
            config_json = self._compiled(proxy, snapshot)
        except Exception:
            self.metrics.compile_errors.inc()
            logger.exception("Compiling the config of proxy %s failed; it keeps its last config", proxy)
            return 0
        if config_json is None:  # pod unknown (yet, or any more): stay silent, keep the stream
            return 0
        issued = self._issued.get(proxy)
        if issued is None or issued.config_json != config_json:
            issued = _Issued(version=(issued.version + 1) if issued else 1, config_json=config_json)
            self._issued[proxy] = issued
        queued = 0
        for sub in subs:
            if sub.last_config == config_json or sub.closed:
                continue
            if sub.offer(issued.message):
                sub.last_config = config_json
                sub.last_version = issued.version
                self.metrics.pushes.inc()
                queued += 1
            elif sub.overflowed:
                self.metrics.overflows.inc()
                logger.warning("Config stream of proxy %s overflowed; closed it, the proxy will reconnect", proxy)
        return queued
