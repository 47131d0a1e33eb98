"""The CRD conversion webhook route: ``POST /convert`` answers a ConversionReview.

The conversion itself is ``smi.model.conversion.convert_review`` (pure, never raises on
bad input); this module only moves JSON.  The route is served on the config server's app.
"""

from __future__ import annotations

import json

from aiohttp import web

from smi.model.conversion import convert_review

CONVERT_PATH = "/convert"


async def _convert(request: web.Request) -> web.Response:
    try:
        review = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"request body: not JSON: {exc}") from exc
    return web.json_response(convert_review(review))


def add_conversion_route(app: web.Application) -> None:
    app.router.add_post(CONVERT_PATH, _convert)
