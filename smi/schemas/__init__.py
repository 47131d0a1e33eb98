"""One JSON Schema per kind and served version: the single source of truth.

``smi validate`` and the parser check raw objects against these schemas
(:mod:`smi.checking.schema_checking`), and the CRDs' ``openAPIV3Schema`` are derived
from the same dicts (:mod:`smi.crds`).  Schemas are built by small Python functions
(``smi.schemas.split``, ``.access``, ``.specs``, ``.core``) rather than shipped as JSON, so
shared pieces (metadata, status, ports, HTTP methods) are written once.

Lookup: :func:`schema_for` by ``(kind, apiVersion)``; :data:`SERVED` lists every served
apiVersion per kind, oldest first.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from smi.schemas import access, core, policy, specs, split
from smi.schemas._builders import HTTP_METHODS, MAX_REGEX_LENGTH, Schema

__all__ = ["HTTP_METHODS", "MAX_REGEX_LENGTH", "SERVED", "Schema", "schema_for"]

_BUILDERS: dict[tuple[str, str], Callable[[], Schema]] = {}


def _register(kind: str, api_version: str, build: Callable[[], Schema]) -> None:
    _BUILDERS[(kind, api_version)] = build


def _register_all() -> None:
    for version in split.VERSIONS:
        _register("TrafficSplit", f"{split.GROUP}/{version}", partial(split.schema, version))
    for version in access.VERSIONS:
        _register("TrafficTarget", f"{access.GROUP}/{version}", partial(access.schema, version))
    for version in specs.VERSIONS:
        _register("HTTPRouteGroup", f"{specs.GROUP}/{version}", partial(specs.http_route_group, version))
        _register("TCPRoute", f"{specs.GROUP}/{version}", partial(specs.tcp_route, version))
    for version in specs.UDP_VERSIONS:
        _register("UDPRoute", f"{specs.GROUP}/{version}", partial(specs.udp_route, version))
    for version in policy.VERSIONS:
        upstream = partial(policy.upstream_traffic_policy, version)
        _register("UpstreamTrafficPolicy", f"{policy.GROUP}/{version}", upstream)
        _register("RateLimitPolicy", f"{policy.GROUP}/{version}", partial(policy.rate_limit_policy, version))
    _register("Namespace", "v1", core.namespace)
    _register("ServiceAccount", "v1", core.service_account)
    _register("Service", "v1", core.service)
    _register("Pod", "v1", core.pod)
    _register("Deployment", "apps/v1", core.deployment)
    _register("ReplicaSet", "apps/v1", core.replica_set)
    _register("Endpoints", "v1", core.endpoints)
    _register("EndpointSlice", "discovery.k8s.io/v1", core.endpoint_slice)


_register_all()
_CACHE: dict[tuple[str, str], Schema] = {}

SERVED: dict[str, tuple[str, ...]] = {}
for _kind, _api_version in _BUILDERS:
    SERVED[_kind] = (*SERVED.get(_kind, ()), _api_version)


def schema_for(kind: str, api_version: str) -> Schema | None:
    """A fresh copy of the schema of ``kind`` in ``api_version``; None when not served."""
    key = (kind, api_version)
    if key not in _BUILDERS:
        return None
    if key not in _CACHE:
        _CACHE[key] = _BUILDERS[key]()
    result: dict[str, Any] = copy.deepcopy(_CACHE[key])
    return result
