"""The kiosk page: plain HTML and JavaScript served by the service itself (no build step, no CDN)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from engine.errors import ShowNotFound
from web import schemas
from web.context import ENGINE
from web.errors import ApiError

STATIC = Path(__file__).parent / "static"
NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>No such show</title><link rel="stylesheet" href="/kiosk/static/kiosk.css"></head>
<body><h1>No show {show_id}</h1><p>There is no show with that number. The list of movies and their shows is at
<a href="/movies/">/movies/</a> (each movie's shows at <code>/movies/&lt;id&gt;/shows/</code>).</p></body></html>
"""
routes = web.RouteTableDef()


@routes.get(r"/kiosk/{id:\d+}")
async def kiosk(request: web.Request) -> web.StreamResponse:
    """The page for an existing show; a plain 404 page otherwise, rather than a page that waits forever."""
    try:
        await request.app[ENGINE].seat_map(schemas.path_id(request))
    except (ShowNotFound, ApiError):
        show_id = request.match_info["id"][:12]
        return web.Response(text=NOT_FOUND_PAGE.format(show_id=show_id), status=404, content_type="text/html")
    return web.FileResponse(STATIC / "kiosk.html", headers={"Cache-Control": "no-cache"})


routes.static("/kiosk/static", STATIC)
