"""Test helpers: a real-socket config stream client, a condition waiter, a tiny stand-in compiler.

The stand-in compiler (``names_compiler``) is only for the mechanics of distribution (what
is pushed when, to whom, with which version); compile semantics are tested elsewhere and
the controller tests use the real ``smi.compile``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from smi.model import ObjectMeta, Pod, PodSpec, Service
from smi.proxyconfig import OutboundConfig, OutboundService, ProxyConfig, ProxyNode
from smi.state import Snapshot
from tests.waiting import wait_until as wait_until  # the one bounded wait (tests.waiting)


def names_compiler(snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None:
    """Stand-in: the pod's node plus one outbound entry per Service name in the snapshot."""
    found = snapshot.get(Pod, namespace, pod)
    if found is None:
        return None
    services = tuple(
        OutboundService(namespace=s.meta.namespace, name=s.meta.name, hostnames=(s.meta.name,), ports=())
        for s in snapshot.all(Service)
    )
    node = ProxyNode(
        namespace=namespace,
        pod=pod,
        service_account=found.spec.service_account,
        identity=f"spiffe://cluster.local/ns/{namespace}/sa/{found.spec.service_account}",
    )
    return ProxyConfig(node=node, outbound=OutboundConfig(services=services))


def pod(name: str, namespace: str = "default", sa: str = "default") -> Pod:
    return Pod(meta=ObjectMeta(name=name, namespace=namespace), spec=PodSpec(service_account=sa))


def service(name: str, namespace: str = "default") -> Service:
    return Service(meta=ObjectMeta(name=name, namespace=namespace))


def service_names(message: dict[str, Any]) -> list[str]:
    return [s["name"] for s in message["config"]["outbound"]["services"]]


class StreamClient:
    """A proxy's side of the config stream over a real socket; collects every message."""

    def __init__(self, base_url: str, *, namespace: str, pod: str) -> None:
        self.url = f"{base_url}/v1/config/stream"
        self.params = {"namespace": namespace, "pod": pod}
        self.messages: list[dict[str, Any]] = []
        self.ended = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.status = 0
        self.error: BaseException | None = None

    async def __aenter__(self) -> StreamClient:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        assert self._session is not None
        try:
            async with self._session.get(self.url, params=self.params) as resp:
                self.status = resp.status
                async for line in resp.content:
                    if line.strip():
                        self.messages.append(json.loads(line))
        except aiohttp.ClientError as exc:
            self.error = exc
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.ended.set()

    @property
    def configs(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "config"]

    async def wait_configs(self, count: int, *, within: float = 5.0) -> list[dict[str, Any]]:
        await wait_until(lambda: len(self.configs) >= count, within=within, what=f"{count} config message(s)")
        return self.configs

    async def wait_config(
        self, predicate: Callable[[dict[str, Any]], bool], *, within: float = 10.0, what: str = "a config"
    ) -> dict[str, Any]:
        """The first received config message (in order) for which ``predicate`` holds."""

        def found() -> bool:
            return any(predicate(m) for m in self.configs)

        await wait_until(found, within=within, what=what)
        return next(m for m in self.configs if predicate(m))
