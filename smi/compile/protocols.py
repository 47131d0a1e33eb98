"""Which protocol a service or container port speaks: http, http2, tcp, udp, or detect.

Decided once (docs/semantics.md, "Port protocol"):

1. ``protocol: UDP`` on the port → udp.
2. ``appProtocol``: ``http``, ``https`` → http; ``http2``, ``h2c``, ``grpc`` (and
   ``kubernetes.io/h2c``) → http2 (the app speaks HTTP/2 without TLS); ``tcp`` → tcp;
   anything else is ignored.
3. The port name: ``http``/``http-*`` → http; ``http2``/``http2-*``, ``grpc``/``grpc-*``,
   ``h2c``/``h2c-*`` → http2; ``tcp``/``tcp-*`` → tcp (Istio's naming convention).
4. Otherwise detect: the sidecar decides per connection from the first bytes
   (``proxy.sniff``): HTTP/1, HTTP/2, or opaque TCP (a TLS ClientHello, other bytes, or a
   client silent for the detection timeout: a server-speaks-first protocol).
"""

from __future__ import annotations

from smi.proxyconfig.types import PROTOCOL_DETECT, PROTOCOL_HTTP, PROTOCOL_HTTP2, PROTOCOL_TCP, PROTOCOL_UDP

_APP_PROTOCOLS: dict[str, str] = {
    "http": PROTOCOL_HTTP,
    "https": PROTOCOL_HTTP,
    "http2": PROTOCOL_HTTP2,
    "h2c": PROTOCOL_HTTP2,
    "grpc": PROTOCOL_HTTP2,
    "kubernetes.io/h2c": PROTOCOL_HTTP2,
    "tcp": PROTOCOL_TCP,
}
_NAME_PREFIXES: dict[str, str] = {
    "http": PROTOCOL_HTTP,
    "http2": PROTOCOL_HTTP2,
    "grpc": PROTOCOL_HTTP2,
    "h2c": PROTOCOL_HTTP2,
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
    return _NAME_PREFIXES.get(prefix, PROTOCOL_DETECT)
