"""A bounded load for the drills: N workers, each a kept-alive HTTP/1.1 client at a fixed rate, every request counted.

Each worker sends ``GET <url>`` through a sidecar's outbound listener (the HTTP proxy a pod's
app uses), reopening its connection when the server closes it.  ``Load`` runs until
``stop()`` or until its bounds (a total request count and a duration) are reached, whichever
comes first.  Every request ends as an answer (status, body) or a failure; a drill's result
is what was sent, what failed (not 200), and the time from the first to the last failure
("recovered time").
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    bodies: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, what)
    started: float = field(default_factory=time.monotonic)

    @property
    def recovered_in(self) -> float:
        """Seconds from the first to the last failure (0 without failures)."""
        if not self.failures:
            return 0.0
        return self.failures[-1][0] - self.failures[0][0]


@dataclass(frozen=True, slots=True)
class DrillResult:
    drill: str
    sent: int
    failed: int
    recovered_in: float
    failures: tuple[str, ...]  # the first few, for the report

    def line(self) -> str:
        return f"{self.drill:<34} sent {self.sent:>6}  failed {self.failed:>4}  recovered in {self.recovered_in:6.2f} s"


class Load:
    def __init__(
        self,
        *,
        proxy: tuple[str, int],
        url: str,
        workers: int = 4,
        rate: float = 100.0,
        max_requests: int = 500_000,
        max_seconds: float = 300.0,
        timeout: float = 5.0,
        new_connection_each: bool = False,
    ) -> None:
        """``new_connection_each``: every request on a new connection, with ``Connection: close``."""
        self.proxy = proxy
        self.url = url
        self.host = url.split("/", 3)[2]
        self.workers = workers
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.timeout = timeout
        self.interval = 1.0 / rate if rate > 0 else 0.0  # per worker; 0: as fast as answers come
        self.headers = {"Host": self.host, **({"Connection": "close"} if new_connection_each else {})}
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> Tally:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.tally

    def answered(self, text: str) -> int:
        with self._lock:
            return sum(n for body, n in self.tally.bodies.items() if text in body)

    def recent(self) -> Counter[str]:
        with self._lock:
            return Counter(self.tally.bodies)

    def _record(self, body: str | None, failure: str | None) -> None:
        with self._lock:
            self.tally.sent += 1
            if failure is not None:
                self.tally.failed += 1
                self.tally.failures.append((time.monotonic(), failure))
            elif body is not None:
                self.tally.bodies[body] += 1

    def _go_on(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self.deadline and self.tally.sent < self.max_requests

    def _work(self) -> None:
        conn: http.client.HTTPConnection | None = None
        next_at = time.monotonic()
        while self._go_on():
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load (a fixed rate per worker), not synchronisation
            else:
                next_at = time.monotonic()
            if conn is None:
                conn = http.client.HTTPConnection(*self.proxy, timeout=self.timeout)
            try:
                conn.request("GET", self.url, headers=self.headers)
                response = conn.getresponse()
                data = response.read().decode("utf-8", "replace").strip()
                if response.status == 200:
                    self._record(" ".join(data.split()[:2]), None)  # "bookstore v1"
                else:
                    self._record(None, f"{response.status} {data[:120]}")
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                # a kept-alive connection the server closed before this request: not a lost request
                # only when nothing was sent on it; http.client cannot tell, so it counts as failed
                self._record(None, f"{type(exc).__name__}: {exc}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def result(self, drill: str) -> DrillResult:
        tally = self.stop()
        return DrillResult(
            drill=drill,
            sent=tally.sent,
            failed=tally.failed,
            recovered_in=tally.recovered_in,
            failures=tuple(what for _, what in tally.failures[:5]),
        )
