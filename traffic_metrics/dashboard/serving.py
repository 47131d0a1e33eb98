"""aiohttp routes for the dashboard page under ``/dashboard/``.

Only the page's own files and the one vendored library are served: a fixed allow-list, so no
path from a request ever reaches the file system.  When the library has not been built, the
module URL answers 503 with the command that builds it, and the page says so instead of
drawing nothing.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DASHBOARD_PREFIX = "/dashboard"
HERE = Path(__file__).parent
STATIC = HERE / "static"
LIBRARY = "cytoscape.esm.min.mjs"

_TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}
_PAGE_FILES = frozenset(p.name for p in STATIC.iterdir() if p.suffix in _TYPES)


def library_path() -> Path:
    """Where the build step puts the graph library."""
    return HERE / "web" / "node_modules" / "cytoscape" / "dist" / LIBRARY


def _file_response(path: Path) -> web.StreamResponse:
    return web.Response(
        body=path.read_bytes(),
        content_type=_TYPES[path.suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


async def _index(_: web.Request) -> web.StreamResponse:
    return _file_response(STATIC / "index.html")


async def _redirect(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(DASHBOARD_PREFIX + "/")


async def _page_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _PAGE_FILES:
        raise web.HTTPNotFound(text=f"no such dashboard file: {name}\n")
    return _file_response(STATIC / name)


async def _library(_: web.Request) -> web.StreamResponse:
    path = library_path()
    if not path.is_file():
        return web.Response(
            status=503,
            text="the dashboard's graph library is not built: run ./scripts/build-dashboard (needs npm)\n",
        )
    return _file_response(path)


def add_dashboard_routes(app: web.Application, *, prefix: str = DASHBOARD_PREFIX) -> None:
    """Mount the page on ``app`` (the application that also serves the metrics API)."""
    if prefix != DASHBOARD_PREFIX:
        raise ValueError("the page links its files relative to /dashboard/")
    app.router.add_get(prefix, _redirect)
    app.router.add_get(prefix + "/", _index)
    app.router.add_get(prefix + "/vendor/" + LIBRARY, _library)
    app.router.add_get(prefix + "/{name}", _page_file)
