"""``smi up --isolation netns``: each pod in its own network namespace, captured as in a cluster.

Built on ``smi.runtime.netns`` (the plumbing) and ``proxy.init`` (the very rules the
cluster's init container installs).  Per run (prefix ``smi-<6 hex of the state folder>``):

* a hub namespace with a bridge; each pod gets ``<prefix>-<pod ip with dashes>`` with ``eth0``
  on the bridge at an address from ``POD_NETWORK`` (198.18.0.0/16), ``/15`` on-link so the
  service VIPs route out of ``eth0`` (where the OUTPUT rules redirect them first);
* every Service gets a virtual IP from ``VIP_NETWORK`` (198.19.0.0/17), stable for the run;
  a manifest's ``clusterIP`` is replaced (no address outside 198.18.0.0/15 is ever used);
  headless services (``clusterIP: None``) keep no address; ``OUTSIDE_NETWORK`` (198.19.128.0/17)
  is never allocated: tests put hosts "outside the mesh" there, on the same bridge;
* ``/etc/netns/<ns>/hosts`` names every service (``svc``, from its own namespace only,
  ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.<cluster domain>``) and is rewritten in place when
  services change, so apps call ``http://bookstore.bookstore:8080`` with no proxy settings;
* proxy-init's rules (``install_rules``) in each namespace; the sidecar runs with gid
  ``SIDECAR_GID`` (its connections are not redirected) and the app as the runtime's user;
* the sidecars reach the control plane (on the runtime's loopback address in the runtime's
  own namespace) through a relay: a listening socket inside each pod namespace on the same
  address and port (loopback there too), spliced by the runtime;
* readiness probes connect from inside the pod namespace (``netns.socket_in``);
* UDP to a service VIP is DNATed to the sidecar's UDP listener (``smi.runtime.udpforwards``).

A start sweeps what a crashed run of the same state folder left (only that prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from proxy.init import CaptureSettings, install_rules, udp_service_rules
from smi.model import ObjectKey, Pod, Resource, Service
from smi.runtime import netns
from smi.runtime.addresses import OUTBOUND_PORT
from smi.runtime.environment import Forward, env_name
from smi.runtime.podrunning import http_exchange

logger = logging.getLogger(__name__)

ISOLATION_MODES = ("loopback", "netns")
POD_NETWORK = ipaddress.IPv4Network("198.18.0.0/16")
VIP_NETWORK = ipaddress.IPv4Network("198.19.0.0/17")
OUTSIDE_NETWORK = ipaddress.IPv4Network("198.19.128.0/17")  # never allocated: hosts outside the mesh (tests)
LINK_PREFIX = 15  # eth0's prefix length: pods and VIPs on-link
SIDECAR_GID = 1337
_PROXY_VARS = re.compile(r"^(HTTPS?_PROXY|NO_PROXY|ALL_PROXY)$", re.IGNORECASE)


def pod_netns(prefix: str, ip: str) -> str:
    return f"{prefix}-{ip.replace('.', '-')}"


def run_prefix(state_dir: Path) -> str:
    """The name prefix of a state folder's namespaces (what a new start sweeps)."""
    return netns.make_prefix(str(state_dir.resolve()))


class _Relay:
    """Listening sockets inside pod namespaces, spliced to one address of the runtime's namespace."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.servers: dict[str, asyncio.AbstractServer] = {}

    async def add(self, ns: str) -> None:
        self.servers[ns] = await netns.listen_in(ns, self.target, self._splice)

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await netns.splice_to(self.target, reader, writer)

    def remove(self, ns: str) -> None:
        server = self.servers.pop(ns, None)
        if server is not None:
            server.close()

    def close(self) -> None:
        for ns in list(self.servers):
            self.remove(ns)


class NetnsIsolation:
    """The namespaces, addresses, names and rules of one ``smi up --isolation netns`` run."""

    def __init__(self, *, state_dir: Path, cluster_domain: str = "cluster.local") -> None:
        reason = netns.missing()
        if reason is not None:
            raise netns.NetnsError(f"--isolation netns: {reason}")
        self.prefix = run_prefix(state_dir)
        self.fabric = netns.Fabric(self.prefix)
        self.cluster_domain = cluster_domain
        self._next_pod = 2
        self._vips: dict[tuple[str, str], str] = {}
        self._next_vip = 1
        self._services: dict[tuple[str, str], str] = {}  # (ns, name) -> VIP of the current services
        self.pods: dict[str, str] = {}  # pod ip -> namespace of that pod (Kubernetes)
        self.relay: _Relay | None = None

    # -- the run -------------------------------------------------------------------------------

    def start(self, control_plane: tuple[str, int]) -> None:
        swept = netns.sweep(self.prefix)
        if swept:
            logger.info("removed %d network namespaces a previous run left: %s", len(swept), ", ".join(swept))
        self.fabric.create()
        self.relay = _Relay(control_plane)

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()
        self.fabric.destroy()

    # -- addresses and names -------------------------------------------------------------------

    def allocate(self) -> str:
        if self._next_pod >= POD_NETWORK.num_addresses - 1:
            raise netns.NetnsError(f"the pod network {POD_NETWORK} is exhausted")
        address = POD_NETWORK.network_address + self._next_pod
        self._next_pod += 1
        return str(address)

    def _vip(self, key: tuple[str, str]) -> str:
        if key not in self._vips:
            if self._next_vip >= VIP_NETWORK.num_addresses - 1:
                raise netns.NetnsError(f"the service network {VIP_NETWORK} is exhausted")
            self._vips[key] = str(VIP_NETWORK.network_address + self._next_vip)
            self._next_vip += 1
        return self._vips[key]

    def with_virtual_ips(self, objects: Mapping[ObjectKey, Resource]) -> dict[ObjectKey, Resource]:
        """The objects with every Service's cluster IP replaced by its VIP; hosts files follow."""
        result: dict[ObjectKey, Resource] = {}
        services: dict[tuple[str, str], str] = {}
        for key, obj in objects.items():
            if isinstance(obj, Service) and obj.cluster_ip != "None":
                vip = self._vip((obj.meta.namespace, obj.meta.name))
                services[(obj.meta.namespace, obj.meta.name)] = vip
                obj = replace(obj, cluster_ip=vip)
            result[key] = obj
        if services != self._services:
            self._services = services
            for ip, namespace in self.pods.items():
                self._write_hosts(ip, namespace)
        return result

    def hosts_lines(self, namespace: str) -> list[str]:
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        for (ns, name), vip in sorted(self._services.items()):
            names = [name] if ns == namespace else []
            names += [f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.{self.cluster_domain}"]
            lines.append(f"{vip} {' '.join(names)}")
        return lines

    def _write_hosts(self, ip: str, namespace: str) -> None:
        try:
            netns.write_hosts(pod_netns(self.prefix, ip), self.hosts_lines(namespace))
        except OSError as e:
            logger.warning("cannot write the hosts file of pod %s: %s", ip, e)

    # -- pods ----------------------------------------------------------------------------------

    def add_pod(self, pod: Pod, udp: tuple[Forward, ...] = ()) -> str:
        """The pod's namespace, wired and captured, before any of its processes start.

        ``udp``: the sidecar's UDP listeners; datagrams to each service VIP and port are DNATed there.
        """
        ip = pod.pod_ip
        assert ip is not None
        ns = self.fabric.add(ip.replace(".", "-"), ip, LINK_PREFIX)
        self.pods[ip] = pod.meta.namespace
        self._write_hosts(ip, pod.meta.namespace)
        rules = install_rules(CaptureSettings(proxy_gid=SIDECAR_GID))
        netns.run([*netns.exec_prefix(ns), "iptables-restore", "--noflush"], stdin=rules)
        mappings = [
            (self._services[(f.namespace, f.service)], f.port, f.address, f.listen_port)
            for f in udp
            if (f.namespace, f.service) in self._services
        ]
        if mappings:
            netns.run([*netns.exec_prefix(ns), "iptables-restore", "--noflush"], stdin=udp_service_rules(mappings))
        if self.relay is not None:
            asyncio.get_running_loop().create_task(self._relay(ns))
        return ns

    async def _relay(self, ns: str) -> None:
        assert self.relay is not None
        try:
            await self.relay.add(ns)
        except (OSError, netns.NetnsError) as e:
            logger.warning("no control-plane relay in %s: %s", ns, e)

    def remove_pod(self, pod: Pod) -> None:
        ip = pod.pod_ip
        if ip is None:
            return
        self.pods.pop(ip, None)
        if self.relay is not None:
            self.relay.remove(pod_netns(self.prefix, ip))
        self.fabric.remove(ip.replace(".", "-"))

    def app_argv(self, pod: Pod, argv: list[str]) -> list[str]:
        assert pod.pod_ip is not None
        return [*netns.exec_prefix(pod_netns(self.prefix, pod.pod_ip)), *argv]

    def sidecar_argv(self, pod: Pod, argv: list[str]) -> list[str]:
        """In the pod's namespace, with the sidecar's gid, the outbound listener where REDIRECT sends."""
        assert pod.pod_ip is not None
        argv = list(argv)
        if "--outbound" in argv:
            argv[argv.index("--outbound") + 1] = f"127.0.0.1:{OUTBOUND_PORT}"
        prefix = netns.exec_prefix(pod_netns(self.prefix, pod.pod_ip))
        return [*prefix, "setpriv", f"--regid={SIDECAR_GID}", "--clear-groups", *argv]

    def app_env(self, pod: Pod, env: Mapping[str, str], services: Iterable[Service]) -> dict[str, str]:
        """No proxy settings; Kubernetes' service variables with the VIPs and service ports."""
        result = {k: v for k, v in env.items() if not _PROXY_VARS.match(k)}
        for svc in services:
            vip = self._services.get((svc.meta.namespace, svc.meta.name))
            if svc.meta.namespace != pod.meta.namespace or not svc.ports or vip is None:
                continue
            prefix = env_name(svc.meta.name)
            result[f"{prefix}_SERVICE_HOST"] = vip
            result[f"{prefix}_SERVICE_PORT"] = str(svc.ports[0].port)
            for port in svc.ports:
                if port.name:
                    result[f"{prefix}_SERVICE_PORT_{env_name(port.name)}"] = str(port.port)
        return result


async def connect_in(
    ns: str, host: str, port: int, *, limit: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection made from inside ``ns`` (raises OSError / TimeoutError)."""
    sock = netns.socket_in(ns)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), limit)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def port_accepts_in(ns: str, host: str, port: int, *, limit: float = 0.5) -> bool:
    try:
        _, writer = await connect_in(ns, host, port, limit=limit)
    except (OSError, TimeoutError, netns.NetnsError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def http_get_in(ns: str, host: str, port: int, path: str, *, limit: float = 1.0) -> tuple[int, bytes]:
    """A minimal HTTP/1.0 GET from inside ``ns``; status 0 when unreachable."""
    try:
        reader, writer = await connect_in(ns, host, port, limit=limit)
    except (OSError, TimeoutError, netns.NetnsError):
        return 0, b""
    return await http_exchange(reader, writer, host=host, path=path, limit=limit)
