"""The live terminal view of ``smi up``: traffic per edge and per split backend, every second.

Each tick scrapes every sidecar's admin ``/metrics`` concurrently, merges them
(``traffic.merge``) and compares with the scrape ``WINDOW`` seconds ago, so the figures
follow a weight change within a couple of seconds.  In a terminal the frame is redrawn in
place; otherwise (a pipe, a log) each frame is printed as plain text.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from collections.abc import Callable
from typing import TextIO

from smi.runtime.running import LocalRuntime
from smi.runtime.traffic import Edge, Figures, Totals, merge, rates

WINDOW = 2.0
TICK = 1.0


def render(figures: dict[Edge, Figures], *, pods: list[tuple[str, str, str]], events: list[str]) -> str:
    lines = [f"{'EDGE':<58} {'RPS':>7} {'SUCCESS':>8} {'P99':>9}"]
    if not figures:
        lines.append("(no traffic yet)")
    for edge in sorted(figures):
        f = figures[edge]
        if f.rps == 0 and f.cps == 0 and edge.backend:
            continue
        success = f"{f.success * 100:.1f}%" if f.success is not None else "-"
        p99 = f"{f.p99 * 1000:.1f}ms" if f.p99 is not None else "-"
        rate = f"{f.rps:.1f}" if f.rps or not f.cps else f"{f.cps:.1f}c"
        lines.append(f"{edge.label():<58} {rate:>7} {success:>8} {p99:>9}")
    lines.append("")
    lines.append(f"{'POD':<44} {'IP':<15} STATE")
    for name, ip, state in pods:
        lines.append(f"{name:<44} {ip:<15} {state}")
    if events:
        lines.append("")
        lines.extend(events[-5:])
    return "\n".join(lines)


class Dashboard:
    def __init__(self, runtime: LocalRuntime, *, out: TextIO = sys.stdout, live: bool | None = None) -> None:
        self.runtime = runtime
        self.out = out
        self.live = out.isatty() if live is None else live
        self.history: collections.deque[tuple[float, Totals]] = collections.deque()
        self.latest: dict[Edge, Figures] = {}

    async def scrape(self) -> Totals:
        runners = [r for r in self.runtime.pods.values() if r.pod.pod_ip]
        answers = await asyncio.gather(*(r.admin_get("/metrics") for r in runners))
        return merge(body.decode("utf-8", "replace") for status, body in answers if status == 200)

    async def tick(self) -> dict[Edge, Figures]:
        now = time.monotonic()
        totals = await self.scrape()
        self.history.append((now, totals))
        while len(self.history) > 1 and now - self.history[0][0] > WINDOW + 0.5:
            self.history.popleft()
        then, older = self.history[0]
        self.latest = rates(older, totals, seconds=now - then) if now > then else {}
        return self.latest

    def frame(self) -> str:
        pods = []
        for runner in sorted(self.runtime.pods.values(), key=lambda r: r.key):
            restarts = sum(p.restarts for p in runner.processes)
            state = "ready" if runner.ready else "starting"
            if restarts:
                state += f" (restarts {restarts})"
            pods.append((f"{runner.key[0]}/{runner.key[1]}", runner.pod.pod_ip or "", state))
        return render(self.latest, pods=pods, events=list(self.runtime.report.events))

    async def run(self, *, should_stop: Callable[[], bool]) -> None:
        while not should_stop():
            try:
                await self.tick()
            except Exception as exc:  # the dashboard must never stop the mesh
                self.runtime.report.event(f"dashboard: scrape failed: {exc}")
            text = self.frame()
            if self.live:
                self.out.write("\x1b[H\x1b[2J" + text + "\n")
            else:
                self.out.write(text + "\n\n")
            self.out.flush()
            await asyncio.sleep(TICK)  # the refresh period itself
