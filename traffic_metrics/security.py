"""Who is asking, and may they: the aggregated API's front-proxy authentication and SubjectAccessReviews.

The kube-apiserver's aggregator calls us over TLS with its front-proxy client certificate
and names the real user in headers.  As every extension API server does:

* the certificate is verified against the requestheader CA that
  ``kube-system/extension-apiserver-authentication`` publishes
  (``requestheader-client-ca-file``), and its common name must be one of
  ``requestheader-allowed-names`` (any, when that list is empty);
* the user is ``X-Remote-User``, the groups ``X-Remote-Group`` (repeatable), extra
  ``X-Remote-Extra-<key>`` (header names as that ConfigMap says);
* every request is authorized with a ``SubjectAccessReview`` (``authorization.k8s.io/v1``):
  resource attributes for the metrics (group ``metrics.smi-spec.io``, the plural, the
  ``edges`` subresource, namespace, name, verb get/list), non-resource attributes for
  discovery.  Not allowed: 403 Status with the reviewer's reason; no client certificate or
  a wrong one: 401.  Decisions are cached for ``ttl`` seconds (at most ``cache_size``).
  ``permits`` asks the same question without refusing: what a cross-namespace list, the
  edges and tap show a user (``traffic_metrics.visibility``).
* tap (``tap.smi-mesh.io``) is authorized as Linkerd's tap API is: verb ``watch`` on the
  tapped resource's plural, subresource ``tap``, in its namespace.

Reading that ConfigMap needs the ``extension-apiserver-authentication-reader`` Role in
kube-system, creating reviews needs ``system:auth-delegator``
(manifests/install/metrics-api.yaml).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from traffic_metrics.kube import Kube, KubeError
from traffic_metrics.model import GROUP, VERSION
from traffic_metrics.server import Attributes

CONFIGMAP_PATH: Final = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
SAR_PATH: Final = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


@dataclass(frozen=True, slots=True)
class RequestHeaderConfig:
    client_ca: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)


def _names(data: dict[str, str], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = data.get(key)
    if not raw:
        return default
    try:
        parsed = json.loads(raw)
    except ValueError:
        return default
    return tuple(str(x) for x in parsed) if isinstance(parsed, list) and parsed else default


def parse_authentication_configmap(body: dict[str, Any]) -> RequestHeaderConfig:
    data = body.get("data") or {}
    ca = data.get("requestheader-client-ca-file")
    if not ca:
        raise KubeError(
            "kube-system/extension-apiserver-authentication has no requestheader-client-ca-file: "
            "the API server runs without --requestheader-client-ca-file, so it cannot call aggregated APIs"
        )
    return RequestHeaderConfig(
        client_ca=ca,
        allowed_names=_names(data, "requestheader-allowed-names", ()),
        username_headers=_names(data, "requestheader-username-headers", ("X-Remote-User",)),
        group_headers=_names(data, "requestheader-group-headers", ("X-Remote-Group",)),
        extra_prefixes=_names(data, "requestheader-extra-headers-prefix", ("X-Remote-Extra-",)),
    )


async def load_request_header_config(kube: Kube) -> RequestHeaderConfig:
    return parse_authentication_configmap(await kube.get(CONFIGMAP_PATH))


def server_ssl_context(cert_file: str, key_file: str, config: RequestHeaderConfig) -> ssl.SSLContext:
    """TLS for the API: our serving certificate; clients (the aggregator) verified against the requestheader CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cadata=config.client_ca)
    context.verify_mode = ssl.CERT_OPTIONAL  # /healthz and the kubelet's probes come without one
    return context


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


def _refuse(error: type[web.HTTPException], code: int, reason: str, message: str) -> web.HTTPException:
    return error(text=json.dumps(_status(code, reason, message)), content_type="application/json")


def _common_name(cert: dict[str, Any]) -> str:
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def user_of(request: web.Request, config: RequestHeaderConfig) -> User:
    """The user the aggregator vouches for; 401 without a verified front-proxy certificate."""
    cert = request.transport.get_extra_info("peercert") if request.transport is not None else None
    if not cert:
        raise _refuse(web.HTTPUnauthorized, 401, "Unauthorized", "no front-proxy client certificate was presented")
    name = _common_name(cert)
    if config.allowed_names and name not in config.allowed_names:
        raise _refuse(web.HTTPUnauthorized, 401, "Unauthorized",
                      f"client certificate CN {name!r} is not among requestheader-allowed-names")  # fmt: skip
    user = next((request.headers[h] for h in config.username_headers if request.headers.get(h)), "")
    if not user:
        raise _refuse(web.HTTPUnauthorized, 401, "Unauthorized", "the front proxy named no user")
    groups = tuple(g for h in config.group_headers for g in request.headers.getall(h, []))
    extra: dict[str, list[str]] = {}
    for header, value in request.headers.items():
        for prefix in config.extra_prefixes:
            if header.lower().startswith(prefix.lower()):
                key = urllib.parse.unquote(header[len(prefix) :]).lower()
                extra.setdefault(key, []).append(value)
    return User(user, groups, tuple((k, tuple(v)) for k, v in sorted(extra.items())))


def review_body(user: User, attrs: Attributes) -> dict[str, Any]:
    spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups)}
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra}
    if attrs.resource:
        spec["resourceAttributes"] = {
            "group": GROUP if attrs.group is None else attrs.group,
            "version": VERSION if attrs.version is None else attrs.version,
            "resource": attrs.resource,
            "subresource": attrs.subresource,
            "namespace": attrs.namespace,
            "name": attrs.name,
            "verb": attrs.verb,
        }
    else:
        spec["nonResourceAttributes"] = {"path": attrs.path, "verb": attrs.verb}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


@dataclass
class Authorizer:
    kube: Kube
    config: RequestHeaderConfig
    ttl: float = 10.0
    cache_size: int = 1024
    _cache: OrderedDict[tuple[User, Attributes], tuple[float, bool, str]] = field(default_factory=OrderedDict)

    async def __call__(self, request: web.Request, attrs: Attributes) -> None:
        user = user_of(request, self.config)
        allowed, reason = await self.decide(user, attrs)
        if not allowed:
            what = f"{attrs.verb} {attrs.resource or attrs.path}" + (
                f"/{attrs.subresource}" if attrs.subresource else ""
            )
            where = f" in namespace {attrs.namespace}" if attrs.namespace else ""
            group = GROUP if attrs.group is None else attrs.group
            message = f'user "{user.name}" cannot {what}{where} in group {group}' + (f": {reason}" if reason else "")
            raise _refuse(web.HTTPForbidden, 403, "Forbidden", message)

    async def permits(self, request: web.Request, attrs: Attributes) -> bool:
        """Whether the request's user may do ``attrs``, without refusing (what a list or tap shows)."""
        allowed, _ = await self.decide(user_of(request, self.config), attrs)
        return allowed

    async def decide(self, user: User, attrs: Attributes) -> tuple[bool, str]:
        key = (user, attrs)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1], cached[2]
        try:
            answer = await self.kube.request("POST", SAR_PATH, review_body(user, attrs))
        except KubeError as exc:
            return False, f"the authorization check failed: {exc}"
        status = answer.get("status") if isinstance(answer, dict) else None
        allowed = bool(isinstance(status, dict) and status.get("allowed") and not status.get("denied"))
        reason = str(status.get("reason", "")) if isinstance(status, dict) else ""
        self._cache[key] = (now, allowed, reason)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return allowed, reason
