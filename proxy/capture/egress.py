"""The egress policy, decided (pure): may captured traffic reach a destination outside the mesh?

``EgressPolicy`` (``smi.proxyconfig``; mesh-wide, from ``MeshSettings.egress``) is either
``allow`` (every outside destination) or ``deny`` with an allow-list of ``EgressRule``s.  A
rule allows a destination when each of its non-empty fields matches:

* ``hosts``: the name the app used, from the HTTP ``Host`` header (port removed) or the TLS
  ClientHello's SNI; exact (case-insensitive) or ``*.suffix`` (one or more labels before
  ``suffix``).  A connection that shows no name matches no host rule.
* ``cidrs``: the original destination address is inside one of them.
* ``ports``: the original destination port is one of them.

``parse_policy`` turns the user's settings (a mapping, e.g. from YAML) into an EgressPolicy,
raising ``ValueError`` that names the field and the reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smi.proxyconfig import EGRESS_ALLOW, EGRESS_DENY, EgressPolicy, EgressRule

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class _Rule:
    exact: frozenset[str]
    suffixes: tuple[str, ...]  # ".example.com" for "*.example.com"
    networks: tuple[Network, ...]
    ports: frozenset[int]
    has_hosts: bool

    def allows(self, ip: str, port: int, host: str | None) -> bool:
        if self.ports and port not in self.ports:
            return False
        if self.networks:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return False
            if not any(address in n for n in self.networks):
                return False
        if self.has_hosts:
            if host is None:
                return False
            name = host.lower().rstrip(".")
            if name not in self.exact and not any(name.endswith(s) and len(name) > len(s) for s in self.suffixes):
                return False
        return True


class EgressMatcher:
    """An EgressPolicy compiled once per config: ``allows(ip, port, host)``."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.allow_all = policy.mode != EGRESS_DENY
        self._rules = tuple(_compile(rule) for rule in policy.allow)

    def allows(self, ip: str, port: int, host: str | None = None) -> bool:
        return self.allow_all or any(rule.allows(ip, port, host) for rule in self._rules)

    @property
    def needs_host(self) -> bool:
        """Whether some rule looks at the name (so the caller should try to find it)."""
        return not self.allow_all and any(rule.has_hosts for rule in self._rules)


def _compile(rule: EgressRule) -> _Rule:
    hosts = [h.lower().rstrip(".") for h in rule.hosts]
    return _Rule(
        exact=frozenset(h for h in hosts if not h.startswith("*.")),
        suffixes=tuple(h[1:] for h in hosts if h.startswith("*.")),
        networks=tuple(ipaddress.ip_network(c, strict=False) for c in rule.cidrs),
        ports=frozenset(rule.ports),
        has_hosts=bool(hosts),
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: must be a list of non-empty strings")
    return tuple(value)


def _rule(data: Any, where: str) -> EgressRule:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be a mapping with hosts, cidrs and/or ports")
    unknown = sorted(set(data) - {"hosts", "cidrs", "ports"})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: hosts, cidrs, ports)")
    hosts = _strings(data.get("hosts"), f"{where}.hosts")
    for host in hosts:
        if "*" in host and (not host.startswith("*.") or "*" in host[2:] or len(host) < 3):
            raise ValueError(f"{where}.hosts: {host!r}: a wildcard is only allowed as a leading '*.'")
    cidrs = _strings(data.get("cidrs"), f"{where}.cidrs")
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{where}.cidrs: {cidr!r} is not an IP address or CIDR") from None
    ports = data.get("ports") or []
    if not isinstance(ports, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in ports
    ):
        raise ValueError(f"{where}.ports: must be a list of port numbers (1..65535)")
    if not (hosts or cidrs or ports):
        raise ValueError(f"{where}: names nothing (give hosts, cidrs or ports): it would allow every destination")
    return EgressRule(hosts=hosts, cidrs=cidrs, ports=tuple(ports))


def parse_policy(data: Any, *, where: str = "egress") -> EgressPolicy:
    """``{"mode": "deny", "allow": [{"hosts": [...], "cidrs": [...], "ports": [...]}, ...]}`` -> EgressPolicy."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be a mapping with 'mode' and 'allow'")
    unknown = sorted(set(data) - {"mode", "allow"})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: mode, allow)")
    mode = data.get("mode", EGRESS_ALLOW)
    if mode not in (EGRESS_ALLOW, EGRESS_DENY):
        raise ValueError(f"{where}.mode: must be {EGRESS_ALLOW!r} or {EGRESS_DENY!r}, got {mode!r}")
    allow = data.get("allow") or []
    if not isinstance(allow, list):
        raise ValueError(f"{where}.allow: must be a list of rules")
    if allow and mode == EGRESS_ALLOW:
        raise ValueError(f"{where}.allow: only meaningful with mode 'deny' (mode 'allow' allows everything)")
    return EgressPolicy(mode=mode, allow=tuple(_rule(r, f"{where}.allow[{i}]") for i, r in enumerate(allow)))
