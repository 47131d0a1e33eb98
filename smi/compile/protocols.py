"""Which protocol a service or container port speaks: http, tcp or udp.

Decided once (docs/semantics.md, "Port protocol"):

1. ``protocol: UDP`` on the port → udp.
2. ``appProtocol``: ``http``, ``https``, ``http2``, ``h2c``, ``grpc`` (and
   ``kubernetes.io/h2c``) → http; ``tcp`` → tcp; anything else is ignored.
3. The port name: ``http``/``http-*``, ``http2``/``http2-*``, ``grpc``/``grpc-*``,
   ``h2c``/``h2c-*`` → http; ``tcp``/``tcp-*`` → tcp (Istio's naming convention).
4. Otherwise http.
"""

from __future__ import annotations

from smi.proxyconfig.types import PROTOCOL_HTTP, PROTOCOL_TCP, PROTOCOL_UDP

_APP_PROTOCOLS: dict[str, str] = {
    "http": PROTOCOL_HTTP,
    "https": PROTOCOL_HTTP,
    "http2": PROTOCOL_HTTP,
    "h2c": PROTOCOL_HTTP,
    "grpc": PROTOCOL_HTTP,
    "kubernetes.io/h2c": PROTOCOL_HTTP,
    "tcp": PROTOCOL_TCP,
}
_NAME_PREFIXES: dict[str, str] = {
    "http": PROTOCOL_HTTP,
    "http2": PROTOCOL_HTTP,
    "grpc": PROTOCOL_HTTP,
    "h2c": PROTOCOL_HTTP,
    "tcp": PROTOCOL_TCP,
}


def port_protocol(*, name: str = "", protocol: str = "TCP", app_protocol: str | None = None) -> str:
    """The mesh protocol of a port from its L4 ``protocol``, ``appProtocol`` and name."""
    if protocol.upper() == "UDP":
        return PROTOCOL_UDP
    if app_protocol:
        decided = _APP_PROTOCOLS.get(app_protocol.lower())
        if decided is not None:
            return decided
    prefix = name.lower().split("-", 1)[0]
    return _NAME_PREFIXES.get(prefix, PROTOCOL_HTTP)
