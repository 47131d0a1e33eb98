"""ProxyConfig: what one sidecar needs to know, and nothing more.

This is the contract between the control plane (compile, config server) and the data
plane (``proxy/``).  It is plain data: frozen dataclasses that encode to JSON with
``encode()`` and decode with ``decode()``.  The proxy imports this package and nothing
else from the control plane.

Semantics the proxy must apply (decided once, see docs/semantics.md):

* ``HttpMatch.path_regex``: Python ``re``, matched with ``re.match`` (anchored at the
  start, not at the end) against the request path *without* the query string.  None
  matches every path.
* ``HttpMatch.methods``: empty or containing ``"*"`` matches every method.
* ``HttpMatch.headers``: (lower-cased name, regex) pairs; every pair must match (AND);
  the regex must match the *whole* header value (``re.fullmatch``); a missing header
  does not match.
* A list of matches is ORed.

Config stream (served by ``smi.distribution``; consumed by ``proxy``)::

    GET /v1/config/stream?namespace=<ns>&pod=<pod>      (identity from the client cert once mTLS is on)
    200 application/x-ndjson, one JSON message per line:
      {"type": "config", "version": <int>, "config": <ProxyConfig>}   whenever it changes
      {"type": "heartbeat"}                                          every few seconds
"""

from smi.proxyconfig.codec import decode, encode
from smi.proxyconfig.types import (
    EGRESS_ALLOW,
    EGRESS_DENY,
    PROTOCOL_DETECT,
    PROTOCOL_HTTP,
    PROTOCOL_HTTP2,
    PROTOCOL_TCP,
    PROTOCOL_UDP,
    AllowRule,
    Cluster,
    DeniedNamespace,
    DeniedServices,
    EgressPolicy,
    EgressRule,
    Endpoint,
    HttpMatch,
    InboundConfig,
    InboundPort,
    OutboundConfig,
    OutboundPort,
    OutboundService,
    ProxyConfig,
    ProxyNode,
    SplitRoute,
    WeightedCluster,
)

__all__ = [
    "EGRESS_ALLOW",
    "EGRESS_DENY",
    "PROTOCOL_DETECT",
    "PROTOCOL_HTTP",
    "PROTOCOL_HTTP2",
    "PROTOCOL_TCP",
    "PROTOCOL_UDP",
    "AllowRule",
    "Cluster",
    "DeniedNamespace",
    "DeniedServices",
    "EgressPolicy",
    "EgressRule",
    "Endpoint",
    "HttpMatch",
    "InboundConfig",
    "InboundPort",
    "OutboundConfig",
    "OutboundPort",
    "OutboundService",
    "ProxyConfig",
    "ProxyNode",
    "SplitRoute",
    "WeightedCluster",
    "decode",
    "encode",
]
