"""The tap endpoint of a workload: the ndjson streams of its pods' sidecars, fanned in and capped.

::

    GET /apis/tap.smi-mesh.io/v1alpha1/namespaces/{ns}/{plural}/{name}/tap?<filters>&rate=N

Filters (``path_prefix``, ``method``, ``status_class``, ``namespace``, ``workload``,
``direction``) go to each sidecar's admin ``/tap`` unchanged, which checks them (a bad one
is answered 400 naming it, passed on as is).  ``rate`` caps the whole answer (events per
second across all pods; 100 by default, at most 1000).  The answer is ndjson, one event per
line, until the client goes away or every sidecar's stream ends.  How a sidecar is reached
is the caller's: ``smi up`` connects through its pod runners (also inside network
namespaces), ``smi metrics-api`` over mTLS to each pod's tap listener
(``traffic_metrics.tapcluster``); authorization (a SubjectAccessReview for verb ``watch`` on
``{plural}/tap`` in group ``tap.smi-mesh.io``) is the ``authorize`` hook, as for the metrics
API, and with ``permits`` an event whose other end is in a namespace the user may not read
is not sent (``traffic_metrics.visibility``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from traffic_metrics.server import Attributes, Authorizer

TAP_GROUP: Final = "tap.smi-mesh.io"
TAP_BASE: Final = f"/apis/{TAP_GROUP}/v1alpha1"
DEFAULT_RATE: Final = 100.0
MAX_RATE: Final = 1000.0
IDLE_CHECK: Final = 1.0  # seconds without an event after which the reader is checked for being gone
PLURALS: Final = frozenset({"deployments", "statefulsets", "daemonsets", "pods"})

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# (namespace, plural, name) -> one opener per pod of that workload (empty: none running)
Openers = Callable[[str, str, str], list[Callable[[], Awaitable[Connection]]]]


class Cap:
    """A token bucket: at most ``rate`` events per second on average, bursts up to ``rate``."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = now
        self.limited = 0

    def take(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            self.limited += 1
            return False
        self.tokens -= 1.0
        return True


def _error(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


def _rate(text: str | None) -> float:
    if not text:
        return DEFAULT_RATE
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"rate: must be a number of events per second, got {text!r}") from None
    if not 1 <= rate <= MAX_RATE:
        raise ValueError(f"rate: must be between 1 and {MAX_RATE:.0f} events per second, got {text!r}")
    return rate


async def _open(opener: Callable[[], Awaitable[Connection]], path: str) -> tuple[int, bytes, Connection | None]:
    """(status, body of a refusal, the open stream) of one sidecar's ``/tap``."""
    try:
        reader, writer = await asyncio.wait_for(opener(), 5)
    except (OSError, TimeoutError) as exc:
        return 0, str(exc).encode(), None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        code = int(head.split(b" ", 2)[1])
    except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError, ValueError) as exc:
        writer.close()
        return 0, str(exc).encode(), None
    if code != 200:
        body = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return code, body, None
    return code, b"", (reader, writer)


async def _pump(reader: asyncio.StreamReader, lines: asyncio.Queue[bytes | None]) -> None:
    try:
        while line := await reader.readline():
            await lines.put(line)
    except OSError:
        pass
    finally:
        await lines.put(None)


async def _admitted(line: bytes, admit: Callable[[dict[str, Any]], Awaitable[bool]]) -> bool:
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return isinstance(event, dict) and await admit(event)


async def stream(
    request: web.Request,
    openers: list[Callable[[], Awaitable[Connection]]],
    *,
    admit: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
) -> web.StreamResponse:
    """Fan in the sidecars' streams onto ``request``'s answer (only the events ``admit`` lets through)."""
    try:
        rate = _rate(request.query.get("rate"))
    except ValueError as exc:
        return _error(400, "BadRequest", str(exc))
    query = {k: v for k, v in request.query.items() if k != "rate"}
    path = "/tap?" + urlencode({**query, "rate": str(min(rate, MAX_RATE))})
    opened = await asyncio.gather(*(_open(o, path) for o in openers))
    connections = [c for _, _, c in opened if c is not None]
    refusals = [(code, body) for code, body, c in opened if c is None]
    bad = next((body for code, body in refusals if code == 400), None)
    if bad is not None or not connections:
        for _, writer in connections:
            writer.close()
        if bad is not None:
            return _error(400, "BadRequest", bad.decode("utf-8", "replace").strip())
        why = "; ".join(
            f"{code or 'unreachable'}: {body.decode('utf-8', 'replace').strip()}" for code, body in refusals
        )
        return _error(503, "ServiceUnavailable", f"no sidecar of this workload can be tapped ({why or 'no pods'})")
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
    await response.prepare(request)
    lines: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1000)
    pumps = [asyncio.create_task(_pump(reader, lines)) for reader, _ in connections]
    loop = asyncio.get_running_loop()
    cap = Cap(rate, loop.time())
    ended = 0
    try:
        while ended < len(pumps):
            try:
                line = await asyncio.wait_for(lines.get(), IDLE_CHECK)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break  # the reader went away while nothing matched: end the sidecars' subscriptions
                continue
            if line is None:
                ended += 1
            elif admit is not None and not await _admitted(line, admit):
                continue
            elif cap.take(loop.time()):
                await response.write(line)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        for task in pumps:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, writer in connections:
            writer.close()
    return response


def add_tap_routes(
    app: web.Application,
    openers: Openers,
    *,
    authorize: Authorizer | None = None,
    permits: Callable[[web.Request, Attributes], Awaitable[bool]] | None = None,
) -> None:
    """Serve the tap endpoint on ``app`` (next to the metrics API)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        ns, plural, name = (request.match_info[k] for k in ("ns", "plural", "name"))
        if plural not in PLURALS:
            return _error(404, "NotFound", f"cannot tap {plural!r}: known kinds are {', '.join(sorted(PLURALS))}")
        if authorize is not None:
            attrs = Attributes(
                verb="watch", resource=plural, subresource="tap", namespace=ns, name=name, group=TAP_GROUP
            )
            await authorize(request, attrs)
        found = openers(ns, plural, name)
        if not found:
            return _error(404, "NotFound", f"{plural} {ns}/{name}: no running pod to tap")
        if permits is None:
            return await stream(request, found)
        from traffic_metrics.visibility import Visibility

        view = Visibility(request, permits)

        async def admit(event: dict[str, Any]) -> bool:
            ends = {str(event.get("source_namespace") or ""), str(event.get("destination_namespace") or "")} - {ns}
            return all([await view.sees(other) for other in ends])

        return await stream(request, found, admit=admit)

    app.router.add_get(TAP_BASE + "/namespaces/{ns}/{plural}/{name}/tap", handler)


def event_line(event: dict[str, Any]) -> str:
    """One event as ``smi tap`` prints it."""
    src_name = event.get("source_workload") or "sa:" + str(event.get("source_identity") or "?").rsplit("/", 1)[-1]
    src = f"{event.get('source_namespace')}/{src_name}"
    dst_name = event.get("destination_workload") or event.get("destination_service") or "?"
    dst = f"{event.get('destination_namespace')}/{dst_name}"
    extra = " ".join(f"{k}={event[k]}" for k in ("backend", "route", "rule", "error") if event.get(k))
    return (
        f"{event.get('direction', '?'):<8} {src} -> {dst} {event.get('method')} {event.get('authority')}"
        f"{event.get('path')} {event.get('status')} {float(event.get('latency_ms') or 0):.1f}ms "
        f"{'tls' if event.get('tls') else 'plain'} {extra}".rstrip()
    )


__all__ = ["TAP_BASE", "TAP_GROUP", "Cap", "add_tap_routes", "event_line", "stream"]
