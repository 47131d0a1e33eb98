"""A pod runner whose readiness probes connect from inside the pod's network namespace.

In ``--isolation netns`` the pod's address exists only in its namespace, and a probe from
outside would be captured by the inbound rules anyway; from inside, the pod's own address
goes via ``lo`` and is not redirected, as a kubelet's probe of a pod IP is not.
"""

from __future__ import annotations

from typing import Any

from smi.runtime.addresses import ADMIN_PORT
from smi.runtime.isolation import http_get_in, port_accepts_in
from smi.runtime.podrunning import PodRunner


class NetnsPodRunner(PodRunner):
    def __init__(self, *, netns: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.netns = netns

    async def check(self) -> bool:
        ip = self.pod.pod_ip
        assert ip is not None
        if not all(p.running for p in self.processes):
            return False
        for port in self.ports:
            if not await port_accepts_in(self.netns, ip, port):
                return False
        status, _ = await http_get_in(self.netns, ip, ADMIN_PORT, "/ready")
        return status == 200
