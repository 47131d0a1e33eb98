"""Leader election with a ``coordination.k8s.io/v1`` Lease.

Why a Lease and not kopf's peering: every replica must keep running kopf's watches (each
one feeds its own store and serves configs to the proxies connected to it, and serves the
webhooks); only the *writes* (statuses, caBundles) need one writer.  kopf's peering would
pause a replica's handlers altogether, and needs its own cluster-wide CRD.  A Lease is the
Kubernetes convention (kube-controller-manager, client-go's leaderelection), needs RBAC
on one named object, and is easy to observe (``kubectl get lease -n smi-system``).

The loop, every ``duration / 3`` seconds: read the Lease; create it if missing; renew it
if we hold it; take it over if its holder has not renewed for ``duration`` seconds.  Each
write carries ``metadata.resourceVersion`` as a precondition, so two replicas racing for
an expired Lease cannot both win on a real API server (a 409 means "lost").  A leader that
cannot renew for ``duration`` seconds stops leading *before* anyone else can take over
(it counts from its last successful renew, the others from the last renew they saw).  On
a clean stop the leader releases the Lease (``holderIdentity`` cleared) so a successor
takes over at once instead of after ``duration``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any

from smi.cluster.restclient import RestClient, RestError

logger = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def micro_time(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class LeaseElector:
    def __init__(
        self, api: RestClient, *, namespace: str, name: str, identity: str, duration: float = 15.0,
        on_change: Callable[[bool], None] = lambda _: None,
    ) -> None:  # fmt: skip
        self.api = api
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.namespace, self.name, self.identity = namespace, name, identity
        self.duration = duration
        self.on_change = on_change
        self.leading = False
        self.transitions = 0
        self._renewed: datetime.datetime | None = None

    def _set(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            logger.info("%s %s leadership of Lease %s/%s", self.identity, "acquired" if leading else "lost",
                        self.namespace, self.name)  # fmt: skip
            self.on_change(leading)

    def _spec(self, now: datetime.datetime, *, acquired: bool, transitions: int) -> dict[str, Any]:
        spec: dict[str, Any] = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.duration),
                                "renewTime": micro_time(now), "leaseTransitions": transitions}  # fmt: skip
        if acquired:
            spec["acquireTime"] = micro_time(now)
        return spec

    async def try_once(self) -> bool:
        """One round of the loop; whether we lead afterwards."""
        now = _now()
        lease = await self.api.get(self.path)
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(now, acquired=True, transitions=0)}  # fmt: skip
            try:
                await self.api.request("POST", self.collection, body)
            except RestError as e:
                if e.status == 409:
                    return False
                raise
            self._renewed = now
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        version = (lease.get("metadata") or {}).get("resourceVersion")
        renewed = parse_time(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        expired = renewed is None or now > renewed + datetime.timedelta(seconds=duration)
        if holder != self.identity and holder and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        patch: dict[str, Any] = {"spec": self._spec(now, acquired=holder != self.identity, transitions=transitions)}
        if version:
            patch["metadata"] = {"resourceVersion": version}
        try:
            await self.api.merge_patch(self.path, patch)
        except RestError as e:
            if e.status == 409:
                return False
            raise
        self.transitions = transitions
        self._renewed = now
        return True

    async def run(self, stop: asyncio.Event) -> None:
        period = max(self.duration / 3, 0.2)
        try:
            while not stop.is_set():
                try:
                    self._set(await self.try_once())
                except (RestError, OSError, TimeoutError, ValueError) as e:  # aiohttp errors are OSErrors
                    logger.warning("Lease %s/%s: %s", self.namespace, self.name, e)
                    if self._renewed is None or _now() > self._renewed + datetime.timedelta(seconds=self.duration):
                        self._set(False)
                except Exception as e:  # aiohttp.ClientError and friends: never crash the controller
                    logger.warning("Lease %s/%s: %r", self.namespace, self.name, e)
                    if self._renewed is None or _now() > self._renewed + datetime.timedelta(seconds=self.duration):
                        self._set(False)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=period)
                except TimeoutError:
                    pass
        finally:
            if self.leading:
                await self.release()

    async def release(self) -> None:
        self._set(False)
        try:
            await self.api.merge_patch(self.path, {"spec": {"holderIdentity": None, "renewTime": None}})
        except Exception as e:
            logger.warning("Releasing Lease %s/%s failed: %r", self.namespace, self.name, e)
