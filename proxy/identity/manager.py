"""The workload's certificate lifecycle: get one, renew it early, survive CA outages.

:class:`CertificateManager` asks the CA for a certificate (``POST /v1/certificates`` with a
fresh key's CSR and the bootstrap credential: a per-pod token in the local runtime, the
projected ServiceAccount token in a cluster, re-read each time since it rotates).  It
renews at a random point between 50 % and 70 % of the remaining lifetime (the jitter keeps
a fleet from renewing in lock-step), measured from when the certificate arrived, so that
a back-dated not-before or clock skew never makes it renew late.  When the CA cannot be
reached it keeps the last good certificate and retries with capped, jittered exponential
backoff.  The CA endpoint is trusted through the bootstrap bundle at first, then through
the latest trust bundle.  Each new certificate is published to the subscribers (e.g. ``TlsContexts.update``).

The request is made with ``proxy.httpclient`` (asyncio + httptools), not a client library,
to keep the sidecar small.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import random
import ssl
from collections.abc import Callable
from typing import Any

from proxy import httpclient
from proxy.identity import keys
from proxy.identity.contexts import control_plane_client_context
from proxy.identity.material import InvalidMaterial, WorkloadMaterial, from_response
from smi.proxyconfig.backoff import backoff_delay

logger = logging.getLogger(__name__)

Subscriber = Callable[[WorkloadMaterial], None]


class CertificateRequestFailed(Exception):
    """The CA refused or could not be reached; ``status`` is the HTTP status (0 if none)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class CertificateManager:
    def __init__(
        self,
        *,
        ca_url: str,
        identity: str,
        credential: Callable[[], str],
        ca_ssl: ssl.SSLContext | None = None,
        bootstrap_bundle_pem: str | None = None,
        renew_window: tuple[float, float] = (0.5, 0.7),
        retry_initial: float = 0.2,
        retry_max: float = 30.0,
        request_timeout: float = 10.0,
        rng: random.Random | None = None,
        clock: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        self._url = ca_url.rstrip("/") + "/v1/certificates"
        self.identity = identity
        self._credential = credential
        self._ca_ssl = ca_ssl
        self._bootstrap_bundle = bootstrap_bundle_pem
        self._window = renew_window
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._timeout = request_timeout
        self._rng = rng or random.Random()
        self._clock = clock
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.current: WorkloadMaterial | None = None
        self.renewals = 0
        self.failures = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    async def fetch(self) -> WorkloadMaterial:
        """One request to the CA with a new key; raises :class:`CertificateRequestFailed`."""
        key = keys.generate_key()
        csr = keys.build_csr(key, self.identity)
        headers = {"Authorization": f"Bearer {self._credential()}", "Content-Type": "application/x-pem-file"}
        try:
            reply = await httpclient.request(
                "POST", self._url, headers=headers, body=csr, context=self._ca_context(), seconds=self._timeout
            )
        except (OSError, TimeoutError, ValueError) as e:
            raise CertificateRequestFailed(f"the CA at {self._url} is unreachable: {e!r}") from e
        try:
            body: Any = json.loads(reply.body)
        except ValueError:
            body = None
        if reply.status != 200:
            reason = body.get("error") if isinstance(body, dict) else reply.body[:256].decode(errors="replace")
            raise CertificateRequestFailed(f"the CA refused: HTTP {reply.status}: {reason}", status=reply.status)
        try:
            return from_response(key, self.identity, body)
        except InvalidMaterial as e:
            raise CertificateRequestFailed(str(e)) from e

    def _ca_context(self) -> ssl.SSLContext | None:
        """How to trust the CA endpoint: as given, else the latest trust bundle (follows root rotation).

        None: the system's default roots (an ``https://`` CA outside the mesh).
        """
        if self._ca_ssl is not None:
            return self._ca_ssl
        bundle = self.current.bundle_pem if self.current is not None else self._bootstrap_bundle
        return control_plane_client_context(bundle) if bundle else None

    def renew_delay(self, material: WorkloadMaterial, *, received: datetime.datetime) -> float:
        remaining = (material.not_after - received).total_seconds()
        return max(0.0, remaining * self._rng.uniform(*self._window))

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt + 1, initial=self._retry_initial, cap=self._retry_max, jitter=0.5, rng=self._rng)

    def _publish(self, material: WorkloadMaterial) -> None:
        self.current = material
        self._changed.set()
        self._changed = asyncio.Event()
        for callback in list(self._subscribers):
            try:
                callback(material)
            except Exception:
                logger.exception("A subscriber failed to take the new certificate for %s", self.identity)

    async def _obtain(self, *, deadline: float | None) -> WorkloadMaterial:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                material = await self.fetch()
            except CertificateRequestFailed as e:
                self.failures += 1
                delay = self._backoff(attempt)
                attempt += 1
                if deadline is not None and loop.time() + delay > deadline:
                    raise
                logger.warning("Certificate for %s: %s; retrying in %.1fs", self.identity, e, delay)
                await asyncio.sleep(delay)
                continue
            self._publish(material)
            return material

    async def start(self, *, give_up_after: float | None = 30.0) -> WorkloadMaterial:
        """Get the first certificate (retrying for ``give_up_after`` seconds), then renew in the background."""
        deadline = None if give_up_after is None else asyncio.get_running_loop().time() + give_up_after
        material = await self._obtain(deadline=deadline)
        self._task = asyncio.create_task(self._renew_forever(), name=f"certificate renewal {self.identity}")
        return material

    async def _renew_forever(self) -> None:
        while True:
            assert self.current is not None
            await asyncio.sleep(self.renew_delay(self.current, received=self._clock()))
            await self._obtain(deadline=None)
            self.renewals += 1
            logger.info("Renewed the certificate for %s until %s", self.identity, self.current.not_after)

    async def wait_renewed(self, *, within: float) -> WorkloadMaterial:
        """Wait for the next new certificate (for tests and for callers that need fresh material)."""
        await asyncio.wait_for(self._changed.wait(), within)
        assert self.current is not None
        return self.current

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
