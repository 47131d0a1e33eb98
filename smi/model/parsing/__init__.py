"""Raw manifests (any served version of any SMI or core kind) -> typed hub objects.

:func:`parse` is the one entry point the rest of the project uses::

    obj = parse(raw, source="split.yaml")      # a hub object, or InvalidObject

It works in three steps:

1. identify: the document is a mapping with a known ``kind`` and an ``apiVersion`` that
   serves it (the parser never guesses an apiVersion); errors here stop the parse;
2. schema: the JSON Schema of that kind and version (:mod:`smi.schemas`): types, shapes,
   required and unknown fields;
3. build: the per-kind builders construct the hub object and run the semantic checks
   (regexes compile, DNS names, duplicates, weights...), restoring fields kept in the
   ``smi-mesh.io/preserved-fields`` annotation by an earlier conversion.

Step 3 runs even when step 2 found errors, on whatever parts are well-formed (the
builders read raw values through :mod:`~smi.model.parsing._shapes`), so ``smi validate``
prints every problem at once; a problem the schema already reported at a field is not
repeated (:class:`~smi.model.parsing._reporting.Report`).

:func:`check` returns the object (None on errors) with every problem, warnings included:
that is what ``smi validate`` prints.  Nothing but :class:`~smi.errors.InvalidObject`
escapes from bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from smi.checking.problems import Problem, show, type_name
from smi.checking.schema_checking import check_schema
from smi.errors import InvalidObject
from smi.model.parsing import access, core, policy, specs, split
from smi.model.parsing._meta import DEFAULT_NAMESPACE, build_meta
from smi.model.parsing._reporting import Report
from smi.model.resources import CLUSTER_SCOPED, CORE_KINDS, POLICY_KINDS, SMI_KINDS, Resource
from smi.schemas import SERVED

__all__ = ["Checked", "check", "parse"]

SmiBuilder = Callable[..., Resource]
_SMI_BUILDERS: dict[str, SmiBuilder] = {
    "TrafficSplit": split.build,
    "TrafficTarget": access.build,
    "HTTPRouteGroup": specs.build_http_route_group,
    "TCPRoute": specs.build_tcp_route,
    "UDPRoute": specs.build_udp_route,
    "UpstreamTrafficPolicy": policy.build_upstream,
    "RateLimitPolicy": policy.build_rate_limit,
}
_CORE_BUILDERS: dict[str, Callable[..., Resource]] = {
    "Namespace": core.build_namespace,
    "ServiceAccount": core.build_service_account,
    "Service": core.build_service,
    "Pod": core.build_pod,
    "Deployment": core.build_deployment,
    "ReplicaSet": core.build_replica_set,
    "Endpoints": core.build_endpoints,
    "EndpointSlice": core.build_endpoint_slice,
}


class Checked(NamedTuple):
    """The outcome of :func:`check`: the object (None when there are errors) and every problem."""

    obj: Resource | None
    problems: list[Problem]


def parse(raw: Any, *, source: str = "<input>", index: int | None = None) -> Resource:
    """The hub object of ``raw``; raises :class:`InvalidObject` listing every error."""
    obj, problems = check(raw, source=source, index=index)
    if obj is None:
        raise InvalidObject(problems)
    return obj


def check(raw: Any, *, source: str = "<input>", index: int | None = None) -> Checked:
    """Parse ``raw`` and report every problem, including warnings."""
    report = Report(source=source, index=index)
    try:
        obj = _check(raw, report)
    except RecursionError:
        report.error("", "the document is nested too deeply")
        obj = None
    return Checked(None if report.has_errors() else obj, report.problems)


def _check(raw: Any, report: Report) -> Resource | None:
    if not isinstance(raw, Mapping):
        report.error("", f"a manifest must be a mapping with apiVersion, kind and metadata, got {type_name(raw)}")
        return None
    _identify(raw, report)
    kind = raw.get("kind")
    version = _version_of(raw, report)
    if version is None or report.has_errors() or not isinstance(kind, str):
        return None
    for issue in check_schema(raw, kind=kind, api_version=raw["apiVersion"]):
        report.schema_issue(issue)
    malformed = report.has_errors()
    try:
        return _build(raw, kind=kind, version=version, report=report)
    except TOLERATED_BUILD_ERRORS:
        # Last line of defence: the builders read ill-formed parts tolerantly, but if one
        # still trips over a shape the schema has already reported, the semantic checks
        # of the rest are skipped rather than crashing (the tests make this tuple empty).
        if not malformed:
            raise
        return None


TOLERATED_BUILD_ERRORS: tuple[type[Exception], ...] = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _build(raw: Mapping[str, Any], *, kind: str, version: str, report: Report) -> Resource:
    metadata = raw.get("metadata")
    meta, preserved = build_meta(
        metadata if isinstance(metadata, Mapping) else {},
        kind=kind,
        cluster_scoped=kind in CLUSTER_SCOPED,
        report=report,
    )
    if kind in _SMI_BUILDERS:
        return _SMI_BUILDERS[kind](raw, version=version, meta=meta, preserved=preserved, report=report)
    return _CORE_BUILDERS[kind](raw, meta=meta, report=report)


def _identify(raw: Mapping[str, Any], report: Report) -> None:
    """Stamp the report with the object's kind/namespace/name as far as they can be read."""
    kind, metadata = raw.get("kind"), raw.get("metadata")
    report.kind = kind if isinstance(kind, str) else ""
    if isinstance(metadata, Mapping):
        name, namespace = metadata.get("name"), metadata.get("namespace")
        report.name = name if isinstance(name, str) else ""
        if report.kind not in CLUSTER_SCOPED:
            report.namespace = namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE


def _version_of(raw: Mapping[str, Any], report: Report) -> str | None:
    """The version part of a served apiVersion for the object's kind, or None (reported)."""
    kind, api_version = raw.get("kind"), raw.get("apiVersion")
    known = sorted([*SMI_KINDS, *POLICY_KINDS, *CORE_KINDS])
    if kind is None:
        report.error("kind", "required field is missing")
        return None
    if not isinstance(kind, str):
        report.error("kind", f"must be a string, got {type_name(kind)}")
        return None
    if kind not in SERVED:
        report.error("kind", f"unknown kind {show(kind)}; smi-mesh reads {', '.join(known)}")
        return None
    served = SERVED[kind]
    if api_version is None:
        report.error("apiVersion", f"required field is missing (e.g. {served[-1]})")
        return None
    if not isinstance(api_version, str):
        report.error("apiVersion", f"must be a string, got {type_name(api_version)}")
        return None
    if api_version not in served:
        report.error("apiVersion", _version_reason(kind, api_version, served))
        return None
    return api_version.rpartition("/")[2]


def _version_reason(kind: str, api_version: str, served: tuple[str, ...]) -> str:
    group = served[0].rpartition("/")[0]
    versions = ", ".join(v.rpartition("/")[2] for v in served)
    if "/" not in api_version and group:
        return f"must be group/version, e.g. {group}/{api_version}, got {show(api_version)}"
    if group and api_version.rpartition("/")[0] != group:
        return f"{kind} belongs to the group {group}, got {show(api_version)}"
    listed = versions if group else ", ".join(served)
    return f"{show(api_version)} is not a served version of {kind} (served: {listed})"
