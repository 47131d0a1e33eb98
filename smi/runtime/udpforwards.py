"""UDP services in the local runtime: one sidecar ``--udp-forward`` listener per UDP service port.

For every UDP port of a Service in the pod's namespace, the sidecar listens on
``<pod ip>:15200+i`` (``plan_udp_forwards``) and sends each session over mTLS to the
service's endpoints (``proxy.udp``).  How the app finds it:

* loopback isolation: ``<SVC>_SERVICE_HOST`` / ``<SVC>_SERVICE_PORT`` (and
  ``<SVC>_SERVICE_PORT_<NAME>``) name the listener, as the TCP forwards do (a service's TCP
  variables win when it has both);
* netns isolation: the app sends to the service's VIP and port as in a cluster; a DNAT rule in
  the pod's namespace (``proxy.init.udp_service_rules``) turns that into the listener's
  address, and conntrack turns the answers' source back into the VIP.
"""

from __future__ import annotations

from collections.abc import Iterable

from smi.compile.protocols import port_protocol
from smi.model import Pod, Service
from smi.proxyconfig import PROTOCOL_UDP
from smi.runtime.environment import Forward, env_name

UDP_FORWARD_PORT_START = 15200


def plan_udp_forwards(pod: Pod, services: Iterable[Service]) -> tuple[Forward, ...]:
    assert pod.pod_ip is not None
    wanted = sorted(
        (svc.meta.name, port.port, port.name)
        for svc in services
        if svc.meta.namespace == pod.meta.namespace
        for port in svc.ports
        if port_protocol(name=port.name, protocol=port.protocol, app_protocol=port.app_protocol) == PROTOCOL_UDP
    )
    return tuple(
        Forward(pod.pod_ip, UDP_FORWARD_PORT_START + i, name, pod.meta.namespace, port, port_name)
        for i, (name, port, port_name) in enumerate(wanted)
    )


def udp_flags(forwards: Iterable[Forward]) -> list[str]:
    flags: list[str] = []
    for fwd in forwards:
        flags += ["--udp-forward", fwd.flag]
    return flags


def udp_environment(env: dict[str, str], forwards: Iterable[Forward]) -> None:
    """Loopback isolation: the service variables name the UDP listeners (TCP ones are kept)."""
    for fwd in forwards:
        prefix = env_name(fwd.service)
        if f"{prefix}_SERVICE_HOST" not in env:
            env[f"{prefix}_SERVICE_HOST"] = fwd.address
            env[f"{prefix}_SERVICE_PORT"] = str(fwd.listen_port)
        if fwd.port_name:
            env.setdefault(f"{prefix}_SERVICE_PORT_{env_name(fwd.port_name)}", str(fwd.listen_port))
