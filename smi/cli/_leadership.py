"""``smi controller --leader-elect``: the Lease loop and the leader's caBundle keeper, beside the operator.

Without ``--leader-elect`` the process leads alone (one replica, as before).  With it, the
operator's status writer only writes while this replica holds the Lease, and the leader
re-checks the caBundles (``smi.cluster.cabundles``) every ``--ca-bundle-interval`` seconds
and at once when it takes over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
from types import TracebackType
from typing import Any

from smi.cluster.cabundles import BundleTargets, smi_crd_names, sync_once
from smi.cluster.leasing import LeaseElector
from smi.cluster.restclient import RestClient

logger = logging.getLogger(__name__)


class Leadership:
    def __init__(self, args: argparse.Namespace, *, controller: Any, stop: asyncio.Event) -> None:
        self.args = args
        self.controller = controller
        self.stop = stop
        self.api = RestClient(server=args.server)
        identity = args.lease_identity or os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        self.elector = LeaseElector(
            self.api, namespace=args.lease_namespace, name=args.lease_name, identity=identity,
            duration=args.lease_duration, on_change=self._changed,
        )  # fmt: skip
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._targets = (
            BundleTargets(ca_file=args.webhook_ca_file, webhook_configuration=args.webhook_configuration,
                          crds=smi_crd_names(), apiservices=tuple(args.apiservice))
            if args.webhook_ca_file is not None else None
        )  # fmt: skip

    def leading(self) -> bool:
        return not self.args.leader_elect or self.elector.leading

    def _changed(self, leading: bool) -> None:
        if leading:
            self.controller.leadership_gained()
            self._wake.set()

    async def _keep_bundles(self) -> None:
        assert self._targets is not None
        while not self.stop.is_set():
            if self.leading():
                try:
                    await sync_once(self.api, self._targets)
                except Exception as e:  # an unreachable API server: try again next round
                    logger.warning("caBundle check failed: %r", e)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.args.ca_bundle_interval)

    async def __aenter__(self) -> Leadership:
        self.controller.leading = self.leading
        if self.args.leader_elect:
            self._tasks.append(asyncio.create_task(self.elector.run(self.stop), name="lease"))
        if self._targets is not None:
            self._tasks.append(asyncio.create_task(self._keep_bundles(), name="caBundles"))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop.set()
        self._wake.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        await self.api.close()
