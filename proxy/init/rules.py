"""The capture rules, as ``iptables-restore`` input for the nat table (pure: no I/O).

Four chains of our own, hooked into PREROUTING (inbound) and OUTPUT (outbound)::

    PREROUTING -p tcp -> SMI_INBOUND:   RETURN for the proxy's own ports and excluded ports,
                                        else SMI_IN_REDIRECT (REDIRECT to the inbound port, 15003)
    OUTPUT     -p tcp -> SMI_OUTBOUND:  RETURN for the proxy's uid (1337: its own upstream
                                        connections must reach the network) and, when set, its
                                        gid (``proxy_gid``: the local runtime's sidecars), for loopback
                                        (destination 127.0.0.0/8 or out via ``lo``, which also
                                        covers the pod's own IP), for excluded ports and CIDRs,
                                        else SMI_OUT_REDIRECT (REDIRECT to the outbound port, 15001)

Only TCP is captured; UDP (DNS) is untouched.  The rules are IPv4 (``iptables``).

Idempotence: ``install_rules`` declares each chain (``:CHAIN - [0:0]``, which with
``--noflush`` flushes an existing chain) and first deletes the hook rules that an earlier
run left in PREROUTING/OUTPUT (found in ``iptables-save`` output), so re-running replaces
everything instead of stacking duplicate jumps.  ``cleanup_rules`` removes hooks and chains.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_PROXY_UID = 1337
DEFAULT_INBOUND_PORT = 15003
DEFAULT_OUTBOUND_PORT = 15001
DEFAULT_ADMIN_PORT = 15000

INBOUND = "SMI_INBOUND"
IN_REDIRECT = "SMI_IN_REDIRECT"
OUTBOUND = "SMI_OUTBOUND"
OUT_REDIRECT = "SMI_OUT_REDIRECT"
CHAINS: tuple[str, ...] = (INBOUND, IN_REDIRECT, OUTBOUND, OUT_REDIRECT)
HOOKS: tuple[tuple[str, str], ...] = (("PREROUTING", INBOUND), ("OUTPUT", OUTBOUND))


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSettings:
    proxy_uid: int = DEFAULT_PROXY_UID
    # also not captured: sockets of this group (a sidecar that keeps uid 0 but runs with this gid)
    proxy_gid: int | None = None
    inbound_port: int = DEFAULT_INBOUND_PORT
    outbound_port: int = DEFAULT_OUTBOUND_PORT
    # never redirected inbound: the proxy's listeners (the inbound port is always added)
    proxy_ports: tuple[int, ...] = (DEFAULT_ADMIN_PORT, DEFAULT_OUTBOUND_PORT, DEFAULT_INBOUND_PORT)
    exclude_inbound_ports: tuple[int, ...] = ()
    exclude_outbound_ports: tuple[int, ...] = ()
    exclude_outbound_cidrs: tuple[str, ...] = field(default=())

    def problems(self) -> list[str]:
        """Each invalid field as ``field: reason`` (empty when the settings are usable)."""
        found: list[str] = []
        if not 0 <= self.proxy_uid < 2**32:
            found.append(f"proxy_uid: must be a uid (0..4294967295), got {self.proxy_uid}")
        if self.proxy_gid is not None and not 0 < self.proxy_gid < 2**32:
            found.append(f"proxy_gid: must be a gid (1..4294967295), got {self.proxy_gid}")
        for name in ("inbound_port", "outbound_port"):
            value = getattr(self, name)
            if not 1 <= value <= 65535:
                found.append(f"{name}: must be a port (1..65535), got {value}")
        for name in ("proxy_ports", "exclude_inbound_ports", "exclude_outbound_ports"):
            found.extend(
                f"{name}: must be a port (1..65535), got {p}" for p in getattr(self, name) if not 1 <= p <= 65535
            )
        for cidr in self.exclude_outbound_cidrs:
            try:
                if ipaddress.ip_network(cidr, strict=False).version != 4:
                    found.append(f"exclude_outbound_cidrs: {cidr!r} is not IPv4")
            except ValueError as e:
                found.append(f"exclude_outbound_cidrs: {e}")
        return found


def parse_ports(text: str, *, what: str) -> tuple[int, ...]:
    """``"80, 8080"`` -> (80, 8080); raises ValueError naming ``what`` and the bad item."""
    ports: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            raise ValueError(f"{what}: {item!r} is not a port number (1..65535)")
        if int(item) not in ports:
            ports.append(int(item))
    return tuple(ports)


def parse_cidrs(text: str, *, what: str) -> tuple[str, ...]:
    """``"10.96.0.0/12, 192.0.2.1"`` -> normalised IPv4 CIDRs; raises ValueError naming ``what``."""
    cidrs: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{what}: {item!r} is not an IPv4 address or CIDR") from None
        if network.version != 4:
            raise ValueError(f"{what}: {item!r} is not IPv4 (only IPv4 is captured)")
        if str(network) not in cidrs:
            cidrs.append(str(network))
    return tuple(cidrs)


def _unique(ports: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(ports))


def _stale_hook_deletions(saved: str) -> list[str]:
    """``-D`` lines for every rule in PREROUTING/OUTPUT that jumps to one of our chains."""
    deletions = []
    for line in saved.splitlines():
        words = shlex.split(line) if line.startswith("-A ") else []
        if len(words) >= 2 and words[1] in {"PREROUTING", "OUTPUT"} and any(w in CHAINS for w in words):
            deletions.append("-D " + line[3:])
    return deletions


def install_rules(settings: CaptureSettings, *, saved: str = "") -> str:
    """The ``iptables-restore --noflush`` input; ``saved`` is ``iptables-save -t nat`` output."""
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    lines = ["*nat", *(f":{chain} - [0:0]" for chain in CHAINS), *_stale_hook_deletions(saved)]
    lines.append(f"-A {IN_REDIRECT} -p tcp -j REDIRECT --to-ports {settings.inbound_port}")
    lines.append(f"-A {OUT_REDIRECT} -p tcp -j REDIRECT --to-ports {settings.outbound_port}")
    own = _unique([*settings.proxy_ports, settings.inbound_port, *settings.exclude_inbound_ports])
    lines.extend(f"-A {INBOUND} -p tcp --dport {port} -j RETURN" for port in own)
    lines.append(f"-A {INBOUND} -p tcp -j {IN_REDIRECT}")
    lines.append(f"-A {OUTBOUND} -m owner --uid-owner {settings.proxy_uid} -j RETURN")
    if settings.proxy_gid is not None:
        lines.append(f"-A {OUTBOUND} -m owner --gid-owner {settings.proxy_gid} -j RETURN")
    lines.append(f"-A {OUTBOUND} -d 127.0.0.0/8 -j RETURN")
    lines.append(f"-A {OUTBOUND} -o lo -j RETURN")
    lines.extend(f"-A {OUTBOUND} -p tcp --dport {port} -j RETURN" for port in _unique(settings.exclude_outbound_ports))
    lines.extend(f"-A {OUTBOUND} -d {cidr} -j RETURN" for cidr in dict.fromkeys(settings.exclude_outbound_cidrs))
    lines.append(f"-A {OUTBOUND} -p tcp -j {OUT_REDIRECT}")
    lines.extend(f"-A {hook} -p tcp -j {chain}" for hook, chain in HOOKS)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def chains_in(saved: str) -> tuple[str, ...]:
    """Our chains that exist in ``iptables-save -t nat`` output."""
    declared = {line[1:].split()[0] for line in saved.splitlines() if line.startswith(":") and len(line) > 1}
    return tuple(chain for chain in CHAINS if chain in declared)


def cleanup_rules(*, saved: str) -> str | None:
    """The ``iptables-restore --noflush`` input removing hooks and chains; None if nothing is installed."""
    present = chains_in(saved)
    deletions = _stale_hook_deletions(saved)
    if not present and not deletions:
        return None
    lines = ["*nat", *deletions]
    lines.extend(f":{chain} - [0:0]" for chain in present)  # flush first: chains reference each other
    lines.extend(f"-X {chain}" for chain in present)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


UDP_SERVICES = "SMI_UDP_SERVICES"


def udp_service_rules(mappings: Iterable[tuple[str, int, str, int]]) -> str:
    """``iptables-restore --noflush`` input: UDP to each (VIP, port) DNATed to (address, port).

    For the local runtime's network namespaces: an app's datagrams to a service's virtual IP
    reach the sidecar's UDP listener for that service port; conntrack rewrites the answers'
    source back to the VIP.  Own chain ``SMI_UDP_SERVICES``, hooked in OUTPUT: applied once
    per namespace (a second run would add a second hook).
    """
    lines = ["*nat", f":{UDP_SERVICES} - [0:0]"]
    for vip, port, address, to_port in mappings:
        for value, what in ((vip, "VIP"), (address, "address")):
            if ipaddress.ip_address(value).version != 4:
                raise ValueError(f"udp service {what} {value!r}: only IPv4")
        if not (1 <= port <= 65535 and 1 <= to_port <= 65535):
            raise ValueError(f"udp service {vip}:{port} -> {address}:{to_port}: not a port")
        lines.append(
            f"-A {UDP_SERVICES} -p udp -d {vip}/32 --dport {port} -j DNAT --to-destination {address}:{to_port}"
        )
    lines.append(f"-A OUTPUT -p udp -j {UDP_SERVICES}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"
