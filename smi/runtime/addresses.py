"""The address plan: one loopback address per pod.

On Linux every address of 127.0.0.0/8 is local, so each pod gets its own address and every
pod can use the same ports (its app on its containerPorts, its sidecar on 15000/15001/15003)
as in a cluster.  The allocator hands out ``base + 2``, ``base + 3``, … (``base + 1`` is left
for the runtime itself) and never reuses an address within one run, so a replaced pod's
sockets in TIME_WAIT never collide with its successor's.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
DEFAULT_BASE = "127.1.0.0"

# The sidecar's ports on its pod's address.
ADMIN_PORT = 15000
OUTBOUND_PORT = 15001
INBOUND_PORT = 15003
FORWARD_PORT_START = 15100  # --forward listeners for TCP services, one per service port


class AddressError(ValueError):
    pass


@dataclass(slots=True)
class AddressAllocator:
    """Hands out loopback addresses ``base+2 .. base+65534`` (a /16 worth), one per call."""

    base: str = DEFAULT_BASE
    _next: int = field(default=2, init=False)

    def __post_init__(self) -> None:
        try:
            address = ipaddress.IPv4Address(self.base)
        except ValueError as exc:
            raise AddressError(f"address base {self.base!r}: not an IPv4 address") from exc
        if address not in LOOPBACK:
            raise AddressError(f"address base {self.base}: must be inside 127.0.0.0/8")

    def allocate(self) -> str:
        if self._next > 65534:
            raise AddressError(f"address plan from {self.base} is exhausted")
        address = ipaddress.IPv4Address(self.base) + self._next
        if address not in LOOPBACK:
            raise AddressError(f"address plan from {self.base} runs past 127.255.255.255")
        self._next += 1
        return str(address)

    @property
    def runtime_address(self) -> str:
        """The address the runtime's own servers (config stream, control API) listen on."""
        return str(ipaddress.IPv4Address(self.base) + 1)
