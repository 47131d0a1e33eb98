"""The ProxyConfig data types.  See the package docstring for the matching semantics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from smi.proxyconfig.codec_marks import OMIT_DEFAULT
from smi.proxyconfig.monitoring import DEFAULT_MONITORING
from smi.proxyconfig.resilience import ClusterResilience, InboundRateLimit
from smi.proxyconfig.types_base import HttpMatch as HttpMatch

PROTOCOL_HTTP: Final = "http"
PROTOCOL_HTTP2: Final = "http2"  # HTTP/2 (h2c) to the app: appProtocol grpc/h2c/http2, names grpc-*/h2c-*/http2-*
PROTOCOL_TCP: Final = "tcp"
PROTOCOL_UDP: Final = "udp"
PROTOCOL_DETECT: Final = "detect"  # the port declares nothing: the sidecar detects HTTP/1, HTTP/2 or opaque TCP

LB_ROUND_ROBIN: Final = "round_robin"
LB_EWMA: Final = "ewma"

EGRESS_ALLOW: Final = "allow"  # every destination outside the mesh may be reached
EGRESS_DENY: Final = "deny"  # only destinations an ``EgressRule`` allows


@dataclass(frozen=True, slots=True)
class ProxyNode:
    """Who the proxy is: the pod it sits next to and its workload identity."""

    namespace: str
    pod: str
    service_account: str
    identity: str  # spiffe://<trust-domain>/ns/<ns>/sa/<sa>
    address: str = ""  # the pod's IP; outbound connections are made from it
    workload: str = ""  # the owning workload's name (smi.model.owners), for metrics labels


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready backend instance for one service port.

    The caller's sidecar connects to ``address:proxy_port`` (the peer sidecar's inbound
    listener) and announces ``port`` in a PROXY protocol v2 header; when ``proxy_port`` is
    0 the endpoint is not meshed and is reached directly at ``address:port``.
    """

    address: str
    port: int  # the target (container) port
    pod: str = ""
    namespace: str = ""
    identity: str = ""  # the SPIFFE id the endpoint's pod runs as
    proxy_port: int = 0
    workload: str = ""  # the owning workload's name (smi.model.owners), for metrics labels


@dataclass(frozen=True, slots=True)
class Cluster:
    """The endpoints of one service port; ``name`` is ``<ns>/<service>:<port>``."""

    name: str
    namespace: str
    service: str
    port: int
    protocol: str = PROTOCOL_HTTP
    endpoints: tuple[Endpoint, ...] = ()
    lb_policy: str = LB_ROUND_ROBIN
    connect_timeout_ms: int = 1000
    request_timeout_ms: int = 15000
    resilience: ClusterResilience | None = field(default=None, metadata={OMIT_DEFAULT: True})  # None: defaults


@dataclass(frozen=True, slots=True)
class WeightedCluster:
    cluster: str
    weight: int  # integer relative weight; 0 = known, gets no traffic
    service: str = ""


@dataclass(frozen=True, slots=True)
class SplitRoute:
    """A TrafficSplit applied to one root service port.

    ``matches`` empty: every request is split.  Otherwise only requests matching one of
    them are split; the rest fall through to the next SplitRoute, then to the root cluster.
    """

    name: str  # <ns>/<trafficsplit name>
    backends: tuple[WeightedCluster, ...]
    matches: tuple[HttpMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundPort:
    port: int
    protocol: str
    cluster: str  # the root service's own cluster
    splits: tuple[SplitRoute, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundService:
    """A service this proxy may call; ``hostnames`` are every name (and cluster IP) it answers to."""

    namespace: str
    name: str
    hostnames: tuple[str, ...]
    ports: tuple[OutboundPort, ...]


@dataclass(frozen=True, slots=True)
class DeniedNamespace:
    """The mesh services of one namespace this proxy may not call.

    No ports, endpoints or hostnames, to keep the list small (about 25 bytes of JSON per
    service, and only strings, which are cheap to decode): the proxy derives the names as
    the compile does for ``OutboundService.hostnames`` (``name`` only from the same
    namespace, ``name.ns``, ``name.ns.svc``, ``name.ns.svc.<cluster_domain>``, and the
    cluster IP when set).
    """

    namespace: str
    names: tuple[str, ...]  # Service names, sorted
    cluster_ips: tuple[str, ...] = ()  # parallel to ``names``: the cluster IP, "" when headless or none


@dataclass(frozen=True, slots=True)
class DeniedServices:
    """Deny-by-default: every mesh service this proxy may not call (empty in permissive mode).

    A caller without a TrafficTarget gets 403 from its own sidecar for these, and 404 only
    for names that are no mesh service.  The compile hands out one object per set of
    reachable services and keeps it across changes that do not alter it, so the config
    server encodes it once.
    """

    cluster_domain: str = "cluster.local"  # for the hostnames of the services
    namespaces: tuple[DeniedNamespace, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    services: tuple[OutboundService, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    denied: DeniedServices = DeniedServices()


@dataclass(frozen=True, slots=True)
class InboundPort:
    """A port the workload serves; ``protocol`` decides HTTP or opaque TCP handling."""

    port: int
    protocol: str = PROTOCOL_HTTP
    name: str = ""


@dataclass(frozen=True, slots=True)
class AllowRule:
    """One TrafficTarget rule for this workload's identity.

    ``ports`` empty = every port; ``matches`` None = every HTTP request (also used for
    TCP/UDP rules, where it is always None).  A TCP rule allows the whole connection on its
    ports, HTTP included.
    """

    name: str  # <ns>/<traffictarget>/<rule kind>/<rule name>
    sources: tuple[str, ...]  # SPIFFE ids
    protocol: str  # http | tcp | udp (the kind of route the rule names)
    ports: tuple[int, ...] = ()
    matches: tuple[HttpMatch, ...] | None = None


@dataclass(frozen=True, slots=True)
class InboundConfig:
    ports: tuple[InboundPort, ...] = ()
    app_address: str = "127.0.0.1"  # where the app listens
    permissive: bool = False  # allow every caller (like OSM's permissive traffic policy mode)
    rules: tuple[AllowRule, ...] = ()
    # Plain-text (pre-mTLS) caller identification: source address -> SPIFFE id of the pods
    # that appear in some rule's sources.
    peers: tuple[tuple[str, str], ...] = ()
    rate_limits: tuple[InboundRateLimit, ...] = field(default=(), metadata={OMIT_DEFAULT: True})  # policy.smi-mesh.io


@dataclass(frozen=True, slots=True)
class EgressRule:
    """One allowed kind of destination outside the mesh: every non-empty field must match.

    ``hosts``: names the app used (HTTP ``Host`` without port, TLS SNI), exact or
    ``*.suffix``; ``cidrs``: IPv4/IPv6 networks of the original destination address;
    ``ports``: its port.  Evaluated by ``proxy.capture.egress``.
    """

    hosts: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Mesh-wide: what captured traffic to destinations outside the mesh may reach."""

    mode: str = EGRESS_ALLOW  # allow | deny (then only what ``allow`` lists)
    allow: tuple[EgressRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    node: ProxyNode
    trust_domain: str = "cluster.local"
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    egress: EgressPolicy = field(default_factory=EgressPolicy, metadata={OMIT_DEFAULT: True})
    # off | golden | routes (smi.proxyconfig.monitoring): what the sidecar exports and taps
    monitoring: str = field(default=DEFAULT_MONITORING, metadata={OMIT_DEFAULT: True})
