"""The one ProxyConfig type both ``types`` and ``resilience`` use (kept apart to avoid an import cycle)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpMatch:
    name: str
    path_regex: str | None = None
    methods: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
