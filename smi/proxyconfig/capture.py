"""How capture port and CIDR lists are read, shared by ``proxy-init`` (its flags) and the
injection webhook (its pod annotations and flags).  A leaf: the control plane may not
import ``proxy/``, so what both need lives here; ``proxy.init`` re-exports it.
"""

from __future__ import annotations

import ipaddress


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
