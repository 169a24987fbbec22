"""The kiosk page: plain HTML and JavaScript served by the service itself (no build step, no CDN)."""

from __future__ import annotations

import functools
from pathlib import Path

from aiohttp import web
from aiohttp_apispec import docs

from engine.errors import ShowNotFound
from web.context import ENGINE, SETTINGS
from web.http.errors import fail
from web.http.openapi import ERROR_CONTENT
from web.schemas import path_id

STATIC = Path(__file__).parents[1] / "static"
NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>No such show</title><link rel="stylesheet" href="/kiosk/static/kiosk.css"></head>
<body><h1>No show {show_id}</h1><p>There is no show with that number. The list of movies and their shows is at
<a href="/movies/">/movies/</a> (each movie's shows at <code>/movies/&lt;id&gt;/shows/</code>).</p></body></html>
"""
routes = web.RouteTableDef()
HTML = {"text/html": {"schema": {"type": "string"}}}


# The page logs in and books: no other site may frame it (clickjacking) or inject script into it.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The door page uses the camera (and nothing else the browser guards): this origin only, and never in a frame.
DOOR_HEADERS = {**PAGE_HEADERS, "Permissions-Policy": "camera=(self), microphone=(), geolocation=()"}


@docs(
    tags=["live"],
    summary="The kiosk page of a show (HTML)",
    security=[],
    parameters=[
        {
            "in": "query",
            "name": "shared",
            "required": False,
            "schema": {"type": "string", "enum": ["1", "0"]},
            "description": "1: a shared kiosk (no login kept across reloads, logged out when idle)",
        }
    ],
    responses={
        "200": {"description": "The page", "content": HTML},
        "400": {"description": "shared is neither 1 nor 0", "content": ERROR_CONTENT},
        "404": {
            "description": "No such show: a page saying so (JSON for an id spelled wrongly)",
            "content": {**HTML, **ERROR_CONTENT},
        },
    },
)
@routes.get(r"/kiosk/{id:\d+}")
async def kiosk(request: web.Request) -> web.StreamResponse:
    """The page for an existing show; a plain 404 page otherwise, rather than a page that waits forever.
    `?shared=1` (or CINEMA_KIOSK_SHARED for every kiosk) is the shared-kiosk mode: no login kept across reloads,
    and a logout after CINEMA_KIOSK_IDLE_SECONDS without a touch."""
    show_id = path_id(request)  # one spelling per show, as on every id route (a JSON 404 otherwise)
    try:
        await request.app[ENGINE].seat_map(show_id)
    except ShowNotFound:
        return web.Response(
            text=NOT_FOUND_PAGE.format(show_id=show_id), status=404, content_type="text/html", headers=PAGE_HEADERS
        )
    settings = request.app[SETTINGS]
    mode = request.query.get("shared", "0")
    if mode not in ("1", "0"):
        raise fail("invalid_query", "shared must be 1 (a shared kiosk) or 0.")
    shared = settings.kiosk_shared or mode == "1"
    page = (
        _kiosk_template()
        .replace("{{shared}}", "1" if shared else "0")
        .replace("{{idle_seconds}}", f"{settings.kiosk_idle_seconds:g}")
    )
    return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)


@functools.cache
def _kiosk_template() -> str:
    """kiosk.html, read once: the page's mode (shared or not) and its idle time are filled in per request."""
    return (STATIC / "kiosk.html").read_text(encoding="utf-8")


@docs(
    tags=["tickets"],
    summary="The door page (HTML): staff scan tickets with the camera or type the code",
    security=[],
    responses={"200": {"description": "The page", "content": HTML}},
)
@routes.get("/door/")
async def door(request: web.Request) -> web.StreamResponse:
    """The page is public; everything it does needs a staff login, asked for on the page."""
    return web.FileResponse(STATIC / "door.html", headers=DOOR_HEADERS)


routes.static("/kiosk/static", STATIC)
