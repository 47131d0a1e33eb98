"""A pod runner whose probes and admin calls connect from inside the pod's network namespace.

In ``--isolation netns`` the pod's address exists only in its namespace, and a probe from
outside would be captured by the inbound rules anyway; from inside, the pod's own address
goes via ``lo`` and is not redirected, as a kubelet's probe of a pod IP is not.  Every way
the runtime reaches a pod goes through the three methods below (readiness, the sidecar's
``/ready``, and admin GETs for ``smi status`` and the dashboard).
"""

from __future__ import annotations

import asyncio
from typing import Any

from smi.runtime.addresses import ADMIN_PORT
from smi.runtime.isolation import connect_in, http_get_in, port_accepts_in
from smi.runtime.podrunning import PodRunner


class NetnsPodRunner(PodRunner):
    def __init__(self, *, netns: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.netns = netns

    async def admin_get(self, path: str, *, limit: float = 1.0) -> tuple[int, bytes]:
        ip = self.pod.pod_ip
        assert ip is not None
        return await http_get_in(self.netns, ip, ADMIN_PORT, path, limit=limit)

    async def admin_connect(self, *, limit: float = 5.0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        ip = self.pod.pod_ip
        assert ip is not None
        return await connect_in(self.netns, ip, ADMIN_PORT, limit=limit)

    async def sidecar_ready(self) -> bool:
        status, _ = await self.admin_get("/ready")
        return status == 200

    async def check(self) -> bool:
        ip = self.pod.pod_ip
        assert ip is not None
        if not all(p.running for p in self.processes):
            return False
        for port in self.ports:
            if not await port_accepts_in(self.netns, ip, port):
                return False
        return await self.sidecar_ready()
