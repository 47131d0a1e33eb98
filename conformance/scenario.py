"""What every scenario does over and over: set up a namespace, ask for requests, wait for a view.

A ``Scenario`` is a driver bound to one fresh namespace.  Its helpers speak in what a user
sees: ``get`` (what one workload sees for one request), ``batch`` (who answered N requests),
``until`` (wait, bounded, until requests look as expected) and ``servers`` (the count of
answers per backend).
"""

from __future__ import annotations

import collections
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from conformance import manifests as m
from conformance.drivers import MeshDriver, Reply, Workload
from conformance.waiting import wait_until


def fresh_namespace() -> str:
    return f"smi-conformance-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Scenario:
    driver: MeshDriver
    namespace: str

    def workload(self, deployment: str) -> Workload:
        return Workload(self.namespace, deployment)

    def url(self, service: str, path: str) -> str:
        return f"http://{service}.{self.namespace}:{m.HTTP_PORT}{path}"

    # -- objects -------------------------------------------------------------------------------

    def apply(self, *objs: m.Obj) -> None:
        self.driver.apply(m.documents(*objs))

    def delete(self, *objs: m.Obj) -> None:
        self.driver.delete(m.documents(*objs))

    def start(self, *objs: m.Obj) -> None:
        """Apply ``objs`` and wait until every Deployment among them is ready."""
        self.apply(*objs)
        names = [o["metadata"]["name"] for o in objs if o["kind"] == "Deployment"]
        self.driver.wait_ready(self.namespace, names)

    # -- traffic -------------------------------------------------------------------------------

    def batch(
        self,
        source: str,
        path: str = "/",
        *,
        service: str = "server",
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> list[Reply]:
        return self.driver.request(
            self.workload(source), self.url(service, path), method=method, headers=headers, count=count
        )

    def get(
        self,
        source: str,
        path: str = "/",
        *,
        service: str = "server",
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        return self.batch(source, path, service=service, method=method, headers=headers)[0]

    def until(
        self,
        what: str,
        source: str,
        path: str = "/",
        *,
        expect: Callable[[list[Reply]], bool],
        service: str = "server",
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> list[Reply]:
        """Repeat a batch of requests until ``expect`` holds for one (bounded by the driver)."""
        last: list[list[Reply]] = [[]]

        def check() -> list[Reply] | None:
            last[0] = self.batch(source, path, service=service, method=method, headers=headers, count=count)
            return last[0] if expect(last[0]) else None

        return wait_until(what, check, timeout=self.driver.timeout, seen=lambda: describe(last[0]))

    def tcp(self, source: str, service: str, payload: str) -> str | None:
        return self.driver.tcp_exchange(self.workload(source), service, payload)

    def tcp_until(
        self, what: str, source: str, service: str, payload: str, *, expect: Callable[[str | None], bool]
    ) -> str | None:
        last: list[str | None] = [None]

        def check() -> bool:
            last[0] = self.tcp(source, service, payload)
            return expect(last[0])

        wait_until(what, check, timeout=self.driver.timeout, seen=lambda: last[0])
        return last[0]


def servers(replies: Sequence[Reply]) -> collections.Counter[str]:
    """How many answers each server workload gave (mesh answers and failures count as "-")."""
    return collections.Counter(r.server if r.served and r.server else "-" for r in replies)


def describe(replies: Sequence[Reply]) -> str:
    shown = [r.server if r.served else r.denial for r in replies[:5]]
    return f"{len(replies)} replies, e.g. {shown}; by server: {dict(servers(replies))}"


def all_served_by(name: str) -> Callable[[list[Reply]], bool]:
    return lambda replies: bool(replies) and all(r.served and r.server == name for r in replies)


def all_served(replies: list[Reply]) -> bool:
    return bool(replies) and all(r.served for r in replies)


def all_denied(replies: list[Reply]) -> bool:
    return bool(replies) and all(r.denied for r in replies)
