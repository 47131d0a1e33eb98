"""Pure inbound authorization: may this caller make this request (or open this connection)?

Rules come from TrafficTargets whose destination is this workload (``AllowRule``).  A rule
applies when its ports are empty or contain the target port and its sources contain the
caller's identity.  A TCP rule allows the whole connection, HTTP included; an HTTP rule
allows a request when its matches are None or one of them matches.  Permissive mode
allows everything.  An unidentified caller (no PROXY header, unknown source address) is
allowed only in permissive mode.

Per request only the rules that can apply to the caller are looked at: the rules covering
(identity, port) are found once and kept in the config version's runtime cache
(``ConfigRuntime.by_caller``, which a new config replaces), together with the ``Allow``
each one answers, so an allowed request allocates nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

from proxy.compiled import PROTOCOL_HTTP, PROTOCOL_TCP, CompiledInbound, CompiledRule, any_match
from proxy.headers import RequestHead


@dataclass(frozen=True, slots=True)
class Allow:
    rule: str  # the allowing rule's name ("" in permissive mode)


@dataclass(frozen=True, slots=True)
class Deny:
    reason: str


PERMISSIVE = Allow("")
_MAX_CALLERS: Final = 4096

Candidates = tuple[tuple[CompiledRule, Allow], ...]


def _candidates(inbound: CompiledInbound, identity: str, port: int, cache: dict[Any, Any] | None) -> Candidates:
    """The rules covering ``port`` whose sources include ``identity``, in rule order."""
    key = (identity, port)
    found = cache.get(key) if cache is not None else None
    if found is None:
        found = tuple((r, Allow(r.name)) for r in inbound.rules if r.covers(port) and identity in r.sources)
        if cache is not None:
            if len(cache) >= _MAX_CALLERS:
                cache.clear()
            cache[key] = found
    return cast(Candidates, found)


def _who(identity: str | None, address: str) -> str:
    return identity if identity else f"an unidentified caller ({address})"


def authorize_connection(*, identity: str | None, address: str, port: int, inbound: CompiledInbound) -> Allow | Deny:
    """Decide once per connection for an opaque TCP port: only TCP rules apply."""
    if inbound.permissive:
        return PERMISSIVE
    if identity:
        for rule in inbound.rules:
            if rule.protocol == PROTOCOL_TCP and rule.covers(port) and identity in rule.sources:
                return Allow(rule.name)
    return Deny(f"no TrafficTarget allows {_who(identity, address)} to connect to port {port}")


def connection_rule(*, identity: str | None, port: int, inbound: CompiledInbound) -> CompiledRule | None:
    """A TCP rule that allows every request on an HTTP port's connection, if there is one."""
    if not identity:
        return None
    for rule in inbound.rules:
        if rule.protocol == PROTOCOL_TCP and rule.covers(port) and identity in rule.sources:
            return rule
    return None


def authorize_request(
    *, identity: str | None, address: str, port: int, head: RequestHead, inbound: CompiledInbound,
    cache: dict[Any, Any] | None = None,
) -> Allow | Deny:  # fmt: skip
    """Decide one HTTP request (``cache``: the runtime's ``by_caller`` for ``inbound``'s config)."""
    if inbound.permissive:
        return PERMISSIVE
    if identity:
        for rule, allow in _candidates(inbound, identity, port, cache):
            if rule.protocol == PROTOCOL_TCP:
                return allow
            if rule.protocol == PROTOCOL_HTTP and (rule.matches is None or any_match(rule.matches, head)):
                return allow
    return Deny(f"no TrafficTarget allows {_who(identity, address)} to {head.method} {head.path}")
