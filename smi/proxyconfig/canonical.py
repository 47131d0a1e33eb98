"""Canonical JSON text of a ProxyConfig: the one encoding both sides compare configs by.

Equal configs give equal text: exactly ``json.dumps(encode(config), sort_keys=True,
separators=(",", ":"))`` (``smi.proxyconfig.codec.encode``), written directly and fast.
The config server sends this text and compares it to decide whether a proxy's config
changed; anything else that needs a config's canonical form uses this module.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from smi.proxyconfig.codec import encode
from smi.proxyconfig.codec_marks import OMIT_DEFAULT
from smi.proxyconfig.types import Cluster, DeniedServices, InboundConfig, OutboundConfig, OutboundService, ProxyConfig


class SharedEncodings:
    """Canonical JSON text of shared sub-objects, found by object identity.

    The compile hands many proxies the very same Cluster objects, and an incremental
    compile hands the same outbound/inbound parts again after a change that did not touch
    them; their text is written once.  Entries keep a reference to their object, so an id
    is never reused while it is remembered.  ``advance()`` starts a new generation: what
    the last generation did not use is dropped, which bounds the memory to what two
    consecutive refreshes used.
    """

    __slots__ = ("_current", "_previous")

    def __init__(self) -> None:
        self._current: dict[int, tuple[object, str]] = {}
        self._previous: dict[int, tuple[object, str]] = {}

    def get(self, value: object) -> str | None:
        hit = self._current.get(id(value))
        if hit is None:
            hit = self._previous.get(id(value))
            if hit is None or hit[0] is not value:
                return None
            self._current[id(value)] = hit
        return hit[1] if hit[0] is value else None

    def put(self, value: object, text: str) -> None:
        self._current[id(value)] = (value, text)

    def advance(self) -> None:
        self._previous, self._current = self._current, {}


def canonical(config: ProxyConfig, *, shared: SharedEncodings | None = None) -> str:
    """The config as canonical JSON text: equal configs give equal text.

    The text is exactly ``json.dumps(encode(config), sort_keys=True, separators=(",", ":"))``,
    written directly; ``shared`` keeps the text of shared parts across configs and refreshes.
    """
    return _text(config, shared if shared is not None else SharedEncodings())


_ALWAYS: Any = object()  # a field without ``OMIT_DEFAULT``: always written
_FIELDS: dict[type, tuple[tuple[str, str, Any], ...] | None] = {}
_string = json.encoder.encode_basestring_ascii  # what json.dumps uses for str (ensure_ascii)


def _default(f: dataclasses.Field[Any]) -> Any:
    """The value an ``OMIT_DEFAULT`` field is left out at (as ``encode`` does), else ``_ALWAYS``."""
    if not f.metadata.get(OMIT_DEFAULT):
        return _ALWAYS
    if f.default is not dataclasses.MISSING:
        return f.default
    factory: Callable[[], Any] = f.default_factory  # type: ignore[assignment]  # set when default is not
    return factory()


def _fields(cls: type) -> tuple[tuple[str, str, Any], ...] | None:
    """A dataclass's (field name, its JSON key text, omitted-at value) in sorted order; None for other types."""
    try:
        return _FIELDS[cls]
    except KeyError:
        names = None
        if dataclasses.is_dataclass(cls):
            fields = sorted(dataclasses.fields(cls), key=lambda f: f.name)
            names = tuple((f.name, _string(f.name) + ":", _default(f)) for f in fields)
        _FIELDS[cls] = names
        return names


def _text(value: Any, shared: SharedEncodings) -> str:
    cls = type(value)
    if cls is str:
        return _string(value)
    if cls is int:
        return int.__repr__(value)
    if cls is tuple or cls is list:
        return "[" + ",".join([_text(v, shared) for v in value]) + "]"
    names = _fields(cls)
    if names is None:  # None, bool, float, dict: as json.dumps writes them
        return json.dumps(encode(value), sort_keys=True, separators=(",", ":"))
    is_shared = cls in _SHARED_TYPES
    if is_shared:
        hit = shared.get(value)
        if hit is not None:
            return hit
    written = [
        key + _text(getattr(value, name), shared)
        for name, key, omitted in names
        if omitted is _ALWAYS or getattr(value, name) != omitted
    ]
    out = "{" + ",".join(written) + "}"
    if is_shared:
        shared.put(value, out)
    return out


_SHARED_TYPES = frozenset({Cluster, OutboundService, OutboundConfig, InboundConfig, DeniedServices})
