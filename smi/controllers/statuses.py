"""Writing SMI objects' statuses: conditions Valid and Accepted, with observedGeneration.

After each coalesced change the writer computes every SMI object's desired status (from
``Compiler.statuses``, the compiler the publisher uses, and the feed's rejections) and patches only those that
differ from what it last wrote.  ``lastTransitionTime`` moves only when a condition's
status flips.  The ``status`` subresource is tried first; when the CRD has none (the
upstream SMI CRDs declare none) the object itself is patched.  A failed write is logged
and retried at the next change or after ``retry`` seconds.

Configs first, statuses second: the writer and the publisher wake on the same changes
and share one event loop (and the compile's index cache).  Statuses are not on the
change-to-proxy path, so before computing them the writer waits (at most
``publish_first`` seconds) until the publisher has pushed the configs of the current
store version; the statuses then reuse the index and plans that compile built.

* ``Valid``: False (reason ``Invalid``, the problem text) when the latest version of the
  object does not parse; the previous valid version, if any, stays in effect.
* ``Accepted``: the compile's verdict: whether the object has an effect, with the reason
  and message of its first problem.  When it turns False (or its reason or message changes
  while False) for a valid object, a Warning Event says why (``smi.controllers.events``).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

from smi.compile import Compiler, ObjectStatus
from smi.controllers.events import not_accepted_event
from smi.controllers.kubeapi import ApiError, KubeApi
from smi.distribution import Coalescer, CoalescingSettings, Publisher
from smi.kubefeed.feeding import Feed, Rejection
from smi.model import SMI_KINDS, ObjectKey
from smi.state import Store

logger = logging.getLogger(__name__)

Conditions = tuple[tuple[str, str, str, str], ...]  # (type, status, reason, message)


def desired_conditions(
    status: ObjectStatus | None, rejection: Rejection | None, *, in_effect: bool
) -> tuple[Conditions, int | None]:
    """The conditions of one object and the generation they describe."""
    if rejection is not None:
        valid = ("Valid", "False", "Invalid", rejection.message)
        if in_effect and status is not None:
            note = "The previous valid version stays in effect. "
            accepted = ("Accepted", _flag(status.accepted), status.reason, note + status.message)
        else:
            accepted = ("Accepted", "False", "Invalid", "Not applied: the object is invalid.")
        return (valid, accepted), rejection.generation
    assert status is not None
    valid = ("Valid", "True", "Valid", "The object is valid.")
    accepted = ("Accepted", _flag(status.accepted), status.reason, status.message)
    return (valid, accepted), status.observed_generation


def _flag(value: bool) -> str:
    return "True" if value else "False"


def render_status(
    conditions: Conditions, generation: int | None, *, previous: Mapping[str, tuple[str, str]], now: str
) -> dict[str, Any]:
    """The ``status`` stanza; ``previous`` maps condition type to (status, lastTransitionTime)."""
    out = []
    for ctype, cstatus, reason, message in conditions:
        before = previous.get(ctype)
        since = before[1] if before is not None and before[0] == cstatus else now
        cond: dict[str, Any] = {
            "type": ctype,
            "status": cstatus,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        out.append(cond)
    status: dict[str, Any] = {"conditions": out}
    if generation is not None:
        status["observedGeneration"] = generation
    return status


class StatusWriter:
    def __init__(
        self,
        *,
        store: Store,
        feed: Feed,
        publisher: Publisher,
        api: Callable[[], KubeApi | None],
        compiler: Compiler,
        coalescing: CoalescingSettings | None = None,
        retry: float = 5.0,
        publish_first: float = 1.0,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.store = store
        self.feed = feed
        self.publisher = publisher
        self.api = api
        self.compiler = compiler
        self.retry = retry
        self.publish_first = publish_first
        self.clock = clock
        self.coalescer = Coalescer(coalescing)
        self._written: dict[ObjectKey, tuple[Conditions, int | None]] = {}
        self._transitions: dict[ObjectKey, dict[str, tuple[str, str]]] = {}

    async def run(self) -> None:
        unsubscribe = self.store.subscribe(self.coalescer.poke)
        self.feed.subscribe(self.coalescer.poke)
        try:
            await self.publisher.wait_synced()
            self.coalescer.poke()
            while True:
                await self.coalescer.wait()
                if not self.publisher.synced:
                    continue
                await self.publisher.wait_published(self.store.version, within=self.publish_first)
                failed = await self.write_once()
                if failed:
                    asyncio.get_running_loop().call_later(self.retry, self.coalescer.poke)
        finally:
            unsubscribe()

    def forget(self) -> None:
        """Write every status again at the next change (a new leader cannot know what the old one wrote)."""
        self._written.clear()

    async def write_once(self) -> int:
        """Patch every status that changed; returns how many writes failed."""
        api = self.api()
        if api is None:
            return 0
        snapshot = self.store.snapshot()
        statuses = self.compiler.statuses(snapshot)
        keys = {k for k in statuses if k.kind in SMI_KINDS} | {k for k in self.feed.rejections if k.kind in SMI_KINDS}
        failed = 0
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        for key in sorted(keys):
            where = self.feed.locations.get(key)
            if where is None:
                continue
            rejection = self.feed.rejections.get(key)
            in_effect = self.store.get(key) is not None
            desired = desired_conditions(statuses.get(key), rejection, in_effect=in_effect)
            if self._written.get(key) == desired:
                continue
            body = render_status(desired[0], desired[1], previous=self._transitions.get(key, {}), now=now)
            try:
                await self._patch(api, key, body)
            except (TimeoutError, ApiError, OSError) as exc:
                failed += 1
                logger.warning("Writing the status of %s failed: %s", key, exc)
                continue
            before = self._written.get(key)
            self._written[key] = desired
            await self._report_not_accepted(api, key, desired[0], before[0] if before else (), now=now)
            self._transitions[key] = {c["type"]: (c["status"], c["lastTransitionTime"]) for c in body["conditions"]}
        for key in [k for k in self._written if k not in keys]:
            del self._written[key]
            self._transitions.pop(key, None)
        return failed

    async def _report_not_accepted(
        self, api: KubeApi, key: ObjectKey, conditions: Conditions, before: Conditions, *, now: str
    ) -> None:
        """One Warning Event when a valid object's Accepted condition newly says False (or why changed)."""
        accepted = next((c for c in conditions if c[0] == "Accepted"), None)
        if accepted is None or accepted[1] != "False" or accepted[2] == "Invalid" or accepted in before:
            return
        stored = self.store.get(key)
        path, body = not_accepted_event(
            key,
            self.feed.locations[key],
            uid=stored.meta.uid if stored is not None else None,
            reason=accepted[2],
            message=accepted[3],
            now=now,
        )
        try:
            await api.create(path, body)
        except (TimeoutError, ApiError, OSError) as exc:
            logger.warning("Posting the Event for %s (%s) failed: %s", key, accepted[2], exc)

    async def _patch(self, api: KubeApi, key: ObjectKey, status: dict[str, Any]) -> None:
        where = self.feed.locations[key]
        try:
            await api.merge_patch(
                where.path(namespace=key.namespace, name=key.name, subresource="status"), {"status": status}
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
            await api.merge_patch(where.path(namespace=key.namespace, name=key.name), {"status": status})
