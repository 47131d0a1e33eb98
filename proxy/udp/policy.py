"""Who may send datagrams to an inbound UDP port (pure): UDPRoute rules, by verified identity.

As for TCP, a session is authorized once, when its stream arrives: permissive mode allows
every caller; otherwise a rule of protocol ``udp`` whose ports are empty or contain the port
and whose sources contain the caller's identity (the client certificate's SPIFFE id).
"""

from __future__ import annotations

from proxy.authz import PERMISSIVE, Allow, Deny
from proxy.compiled import CompiledInbound
from smi.proxyconfig import PROTOCOL_UDP


def authorize_datagrams(*, identity: str | None, port: int, inbound: CompiledInbound) -> Allow | Deny:
    if inbound.permissive:
        return PERMISSIVE
    if identity:
        for rule in inbound.rules:
            if rule.protocol == PROTOCOL_UDP and rule.covers(port) and identity in rule.sources:
                return Allow(rule.name)
    return Deny(f"no TrafficTarget allows {identity or 'an unidentified caller'} to send datagrams to port {port}")
