"""What a pod's processes are given: the app's environment and command line, the sidecar's flags.

The app gets what a container in a cluster would get, plus what it needs to reach the mesh
without iptables capture:

* the manifest's ``env``, with downward-API ``fieldRef`` values filled in
  (``status.podIP``, ``metadata.name``, ``metadata.namespace``, ``spec.serviceAccountName``,
  ``status.hostIP``, ``spec.nodeName``) and ``$(VAR)`` references expanded in command/args;
* ``POD_IP``, ``POD_NAME``, ``POD_NAMESPACE`` (unless the manifest sets them);
* ``HTTP_PROXY``/``http_proxy`` = the sidecar's outbound listener, ``NO_PROXY``/``no_proxy``
  = the pod's own address (so the app's calls to itself stay local);
* for every TCP or detect service port in the pod's namespace (as Kubernetes does for every service),
  ``<SVC>_SERVICE_HOST``/``<SVC>_SERVICE_PORT`` (and ``<SVC>_SERVICE_PORT_<NAME>``) pointing
  at a sidecar ``--forward`` listener on the pod's address.

The runtime's own environment is inherited (PATH, HOME, a virtualenv) minus proxy settings.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from smi.compile.protocols import port_protocol
from smi.model import Container, Pod, Service, ServicePort
from smi.proxyconfig import PROTOCOL_DETECT, PROTOCOL_TCP
from smi.runtime.addresses import ADMIN_PORT, FORWARD_PORT_START, INBOUND_PORT, OUTBOUND_PORT

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True, slots=True)
class Forward:
    """One sidecar forward listener: ``address:listen_port`` → ``service.namespace:port``."""

    address: str
    listen_port: int
    service: str
    namespace: str
    port: int
    port_name: str = ""

    @property
    def flag(self) -> str:
        return f"{self.address}:{self.listen_port}={self.service}.{self.namespace}:{self.port}"


def env_name(service: str) -> str:
    """Kubernetes' service env var prefix: upper case, ``-`` and ``.`` as ``_``."""
    return re.sub(r"[^A-Z0-9_]", "_", service.upper())


def is_tcp(port: ServicePort) -> bool:
    """A service port may carry opaque TCP by the compile's rule: declared ``tcp``, or ``detect`` (says nothing)."""
    protocol = port_protocol(name=port.name, protocol=port.protocol, app_protocol=port.app_protocol)
    return protocol in (PROTOCOL_TCP, PROTOCOL_DETECT)


def plan_forwards(pod: Pod, services: Iterable[Service]) -> tuple[Forward, ...]:
    """A forward listener per TCP or detect service port of the pod's namespace, ports 15100, 15101, …"""
    assert pod.pod_ip is not None
    wanted = sorted(
        (svc.meta.name, port.port, port.name)
        for svc in services
        if svc.meta.namespace == pod.meta.namespace
        for port in svc.ports
        if is_tcp(port)
    )
    return tuple(
        Forward(
            address=pod.pod_ip,
            listen_port=FORWARD_PORT_START + i,
            service=name,
            namespace=pod.meta.namespace,
            port=port,
            port_name=port_name,
        )
        for i, (name, port, port_name) in enumerate(wanted)
    )


def field_value(pod: Pod, path: str) -> str | None:
    """The downward-API value of ``fieldRef.fieldPath``; None when not supported."""
    values = {
        "status.podIP": pod.pod_ip or "",
        "status.podIPs": pod.pod_ip or "",
        "status.hostIP": "127.0.0.1",
        "metadata.name": pod.meta.name,
        "metadata.namespace": pod.meta.namespace,
        "spec.serviceAccountName": pod.spec.service_account,
        "spec.nodeName": "localhost",
    }
    if path in values:
        return values[path]
    label = re.fullmatch(r"metadata\.labels\['(.+)'\]", path)
    if label:
        return pod.meta.labels.get(label.group(1), "")
    return None


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, unknown ones kept as written."""
    return _REF.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def app_environment(
    *,
    pod: Pod,
    container: Container,
    forwards: Iterable[Forward],
    inherited: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The app's environment, and warnings (e.g. an unsupported ``fieldRef``)."""
    assert pod.pod_ip is not None
    warnings: list[str] = []
    env = {k: v for k, v in inherited.items() if k.upper() not in _PROXY_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env["POD_IP"] = pod.pod_ip
    env["POD_NAME"] = pod.meta.name
    env["POD_NAMESPACE"] = pod.meta.namespace
    proxy = f"http://{pod.pod_ip}:{OUTBOUND_PORT}"
    env.update(HTTP_PROXY=proxy, http_proxy=proxy, NO_PROXY=pod.pod_ip, no_proxy=pod.pod_ip)
    seen: set[str] = set()
    for fwd in forwards:
        prefix = env_name(fwd.service)
        if prefix not in seen:
            seen.add(prefix)
            env[f"{prefix}_SERVICE_HOST"] = fwd.address
            env[f"{prefix}_SERVICE_PORT"] = str(fwd.listen_port)
        if fwd.port_name:
            env[f"{prefix}_SERVICE_PORT_{env_name(fwd.port_name)}"] = str(fwd.listen_port)
    env.update(extra or {})
    for var in container.env:
        if var.field_ref is not None:
            value = field_value(pod, var.field_ref)
            if value is None:
                warnings.append(
                    f"Pod {pod.meta.namespace}/{pod.meta.name}: container {container.name}: "
                    f"env {var.name}: fieldRef {var.field_ref} is not supported here; set to ''"
                )
                value = ""
            env[var.name] = value
        else:
            env[var.name] = expand(var.value or "", env)
    return env, warnings


def app_argv(container: Container, env: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded; ``python``/``python3`` is this interpreter."""
    argv = [expand(part, env) for part in (*container.command, *container.args)]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def sidecar_argv(*, pod: Pod, control_plane: str, forwards: Iterable[Forward]) -> list[str]:
    """The ``smi proxy`` command line for ``pod``'s sidecar (``smi.cli.main`` imports only that sub-command)."""
    assert pod.pod_ip is not None
    ip = pod.pod_ip
    argv = [
        sys.executable,
        "-m",
        "smi.cli.main",
        "proxy",
        "--control-plane",
        control_plane,
        "--namespace",
        pod.meta.namespace,
        "--pod",
        pod.meta.name,
        "--outbound",
        f"{ip}:{OUTBOUND_PORT}",
        "--inbound",
        f"{ip}:{INBOUND_PORT}",
        "--admin",
        f"{ip}:{ADMIN_PORT}",
    ]
    for fwd in forwards:
        argv += ["--forward", fwd.flag]
    return argv
