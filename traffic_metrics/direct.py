"""The embedded source: scrape every sidecar's ``/metrics`` on an interval, keep bounded history.

``DirectSource.targets`` is a callable returning the pods to scrape (each ``PodInfo`` with
its ``metrics_url``), asked before every round, so pods that come and go are followed.  A
round fetches all of them concurrently (at most ``concurrency`` at a time, each bounded by
``timeout``); a sidecar that is unreachable, answers an error or malformed text is counted
in ``failures`` (by reason), logged once per change of its state, and simply missing from
that round: it never fails a query.  History per sidecar is ``traffic_metrics.history``;
a pod gone for longer than the longest window is forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from traffic_metrics.history import TargetHistory
from traffic_metrics.query import Reporter, WindowData
from traffic_metrics.samples import MalformedMetrics, parse
from traffic_metrics.sources import SourceUnavailable
from traffic_metrics.topology import PodInfo

logger = logging.getLogger(__name__)

Fetch = Callable[[str, float], Awaitable[tuple[int, str]]]


async def http_fetch(url: str, limit: float) -> tuple[int, str]:
    """GET ``url`` with a bound on the whole exchange; (status, body text)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"

    async def exchange() -> tuple[int, str]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            data = await reader.read(-1)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split()
        status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
        if b"transfer-encoding: chunked" in head.lower():
            body = _unchunk(body)
        return status, body.decode("utf-8", "replace")

    return await asyncio.wait_for(exchange(), limit)


def _unchunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return bytes(out)
        size = int(data[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


@dataclass
class DirectSource:
    targets: Callable[[], Iterable[PodInfo]]
    interval: float = 5.0
    max_window: float = 3600.0
    timeout: float = 2.0
    concurrency: int = 64
    fetch: Fetch = http_fetch
    clock: Callable[[], float] = time.time
    name: str = "direct"
    histories: dict[Reporter, TargetHistory] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    failing: dict[Reporter, str] = field(default_factory=dict)
    rounds: int = 0
    last_round: float = 0.0
    _seen: dict[Reporter, float] = field(default_factory=dict)
    _windows: dict[float, tuple[int, WindowData]] = field(default_factory=dict)

    async def scrape_once(self) -> None:
        pods = [p for p in self.targets() if p.metrics_url]
        gate = asyncio.Semaphore(self.concurrency)

        async def one(pod: PodInfo) -> None:
            async with gate:
                await self._scrape(pod)

        await asyncio.gather(*(one(p) for p in pods))
        now = self.clock()
        for key, seen in list(self._seen.items()):
            if now - seen > self.max_window + self.interval:
                self.histories.pop(key, None)
                self._seen.pop(key, None)
                self.failing.pop(key, None)
        self.rounds += 1
        self.last_round = now

    async def _scrape(self, pod: PodInfo) -> None:
        key = (pod.namespace, pod.name)
        reason = ""
        try:
            status, text = await self.fetch(pod.metrics_url, self.timeout)
            if status != 200:
                reason = f"http_{status}"
            else:
                rows = parse(text)
        except (TimeoutError, OSError) as exc:
            reason = "timeout" if isinstance(exc, asyncio.TimeoutError) else "unreachable"
        except (MalformedMetrics, ValueError):
            reason = "malformed"
        if reason:
            self.failures[reason] += 1
            if self.failing.get(key) != reason:
                logger.warning("metrics of %s/%s (%s): %s", pod.namespace, pod.name, pod.metrics_url, reason)
            self.failing[key] = reason
            return
        if self.failing.pop(key, None) is not None:
            logger.info("metrics of %s/%s are back", pod.namespace, pod.name)
        now = self.clock()
        history = self.histories.get(key)
        if history is None:
            history = self.histories[key] = TargetHistory(max_window=self.max_window)
        history.add(now, rows)
        self._seen[key] = now

    async def run(self) -> None:
        """Scrape every ``interval`` until cancelled (one failing round is logged, never fatal)."""
        while True:
            started = time.monotonic()
            try:
                await self.scrape_once()
            except Exception:
                logger.exception("metrics scrape round failed")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))  # the scrape interval

    async def window(self, seconds: float) -> WindowData:
        """The window ending at the last scrape round (nothing newer is known), computed once per round."""
        if self.rounds == 0 and not self.histories:
            raise SourceUnavailable("the metrics server has not scraped the sidecars yet")
        cached = self._windows.get(seconds)
        if cached is not None and cached[0] == self.rounds:
            return cached[1]
        now = self.last_round or self.clock()
        data = WindowData(when=now, window=seconds)
        for key, history in self.histories.items():
            rows = history.change(seconds, now)
            if rows:
                data.rows[key] = rows
        if len(self._windows) > 16:
            self._windows.clear()
        self._windows[seconds] = (self.rounds, data)
        return data

    def memory(self) -> int:
        return sum(h.memory() for h in self.histories.values())
