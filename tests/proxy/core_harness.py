"""Drive the sans-IO HTTP core (``proxy.http``) event by event, without sockets.

A core is built with the real outbound router over a real compiled config (two endpoints
of ``web`` by default) and a clock the test moves.  Helpers pick commands out of what
``handle`` returns; ``Upstream`` objects stand for upstream connections (no socket).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from proxy.holder import ConfigHolder
from proxy.http import commands as c
from proxy.http import events as ev
from proxy.http.attempts import Attempt, RetryPolicy
from proxy.http.connection import HttpConnection
from proxy.http.upstreams import Upstream
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.metrics import Metrics
from proxy.outbound import OutboundRouter
from smi.proxyconfig import Endpoint, ProxyConfig
from tests.proxy.harness import client_config, cluster, service

C = TypeVar("C", bound=c.Command)
WEB_A = Endpoint("127.0.0.21", 8080, pod="web-a", namespace="default", workload="web")
WEB_B = Endpoint("127.0.0.22", 8080, pod="web-b", namespace="default", workload="web")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def web_config(*endpoints: Endpoint, request_timeout_ms: int = 5000) -> ProxyConfig:
    return client_config(
        (service("web", 80, "default/web:80"),),
        (cluster("default/web:80", *(endpoints or (WEB_A, WEB_B)), request_timeout_ms=request_timeout_ms),),
    )


@dataclass
class Core:
    """One core under test, with the commands of the last event in ``last``."""

    conn: HttpConnection
    clock: Clock
    metrics: Metrics
    last: list[c.Command] = field(default_factory=list)

    def __call__(self, event: ev.Event) -> list[c.Command]:
        self.last = self.conn.handle(event)
        return self.last

    def send(self, data: bytes) -> list[c.Command]:
        return self(ev.ClientData(data))

    def written(self, commands: list[c.Command] | None = None) -> bytes:
        """What the core wrote to the client in ``commands`` (default: the last event's)."""
        return b"".join(x.data for x in of(self.last if commands is None else commands, c.WriteClient))

    def attempt(self) -> Attempt:
        opens = of(self.last, c.OpenUpstream)
        assert len(opens) == 1, self.last
        return opens[0].attempt

    def connect(self, *, reused: bool = False, served: int = 0) -> Upstream:
        """Answer the last ``OpenUpstream`` with a connection; returns it."""
        attempt = self.attempt()
        upstream = Upstream(attempt.target.key)
        upstream.served = served
        upstream.keep_alive = reused
        self(ev.UpstreamConnected(attempt, upstream, reused))
        return upstream

    def sent_upstream(self, upstream: Upstream, commands: list[c.Command] | None = None) -> bytes:
        cmds = self.last if commands is None else commands
        return b"".join(x.data for x in of(cmds, c.WriteUpstream) if x.upstream is upstream)

    def errors(self, reason: str) -> int:
        return self.metrics.error_total(reason)


def make_core(
    config: ProxyConfig | None = None, *, limits: HttpLimits = DEFAULT_LIMITS, retry: RetryPolicy | None = None
) -> Core:
    metrics = Metrics()
    holder = ConfigHolder(metrics)
    holder.swap(config or web_config(), version=1)
    clock = Clock()
    conn = HttpConnection(router=OutboundRouter(holder=holder, metrics=metrics), clock=clock, limits=limits,
                          retry=retry, peer="127.0.0.1:5555")  # fmt: skip
    core = Core(conn, clock, metrics)
    core(ev.ClientConnected())
    return core


def of(commands: list[c.Command], kind: type[C]) -> list[C]:
    return [x for x in commands if isinstance(x, kind)]


def status_of(data: bytes) -> int:
    assert data.startswith(b"HTTP/1.1 "), data[:80]
    return int(data[9:12])


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
