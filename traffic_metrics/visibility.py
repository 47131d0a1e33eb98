"""Which namespaces a user may see: the API's authorization carried into lists, edges and tap.

A user who may not read a namespace's metrics does not see that namespace anywhere:

* a list across namespaces (``/namespaces``, ``/deployments``, ... with no namespace) that
  the user may not make cluster-wide is answered with the items of the namespaces they may
  list instead (a SubjectAccessReview for ``list {plural}`` in each namespace; for the
  namespaces list, ``get namespaces/{name}`` in that namespace, as the API server itself
  names a namespace's request): the map of a user bound in two namespaces shows those two;
* an edge whose other end is in a namespace the user may not read (``get
  namespaces/{ns}``) is left out of ``/edges``;
* a tap event whose other end is in such a namespace is not sent.

Decisions go through the authorizer's cache (``traffic_metrics.security``); within one
request each namespace is asked once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from traffic_metrics.server import Attributes

# True when the request's user may do ``attrs`` (never raises for a refusal).
Permits = Callable[[web.Request, Attributes], Awaitable[bool]]


def namespace_of(ref: Any) -> str:
    """The namespace a TrafficMetrics ``resource`` (or edge end) belongs to ("" for none)."""
    if not isinstance(ref, dict):
        return ""
    if ref.get("kind") == "Namespace":
        return str(ref.get("name") or "")
    return str(ref.get("namespace") or "")


def read_namespace(namespace: str) -> Attributes:
    """Reading a namespace's metrics, as ``GET .../namespaces/{ns}`` is authorized."""
    return Attributes(verb="get", resource="namespaces", namespace=namespace, name=namespace)


class Visibility:
    """One request's view: which namespaces its user may read, each asked once."""

    def __init__(self, request: web.Request, permits: Permits) -> None:
        self.request = request
        self.permits = permits
        self._known: dict[Attributes, bool] = {}

    async def allows(self, attrs: Attributes) -> bool:
        if attrs not in self._known:
            self._known[attrs] = await self.permits(self.request, attrs)
        return self._known[attrs]

    async def sees(self, namespace: str) -> bool:
        """Another end in ``namespace``: shown when the user may read that namespace ("" always)."""
        return not namespace or await self.allows(read_namespace(namespace))

    async def listable(self, plural: str, namespace: str) -> bool:
        if plural == "namespaces":
            return await self.allows(read_namespace(namespace))
        return await self.allows(Attributes(verb="list", resource=plural, namespace=namespace))


async def keep_listable(body: dict[str, Any], plural: str, view: Visibility) -> None:
    """Drop the items of namespaces the user may not list (a cross-namespace list they may not make whole)."""
    body["items"] = [i for i in body.get("items", []) if await view.listable(plural, namespace_of(i.get("resource")))]


async def keep_visible_edges(body: dict[str, Any], view: Visibility) -> None:
    """Drop the edges whose other end is in a namespace the user may not read."""
    body["items"] = [
        i for i in body.get("items", []) if await view.sees(namespace_of((i.get("edge") or {}).get("resource")))
    ]


__all__ = ["Permits", "Visibility", "keep_listable", "keep_visible_edges", "namespace_of", "read_namespace"]
