"""The kiosk page: plain HTML and JavaScript served by the service itself (no build step, no CDN)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp_apispec import docs

from web.openapi import ERROR_CONTENT
from web.schemas import path_id

STATIC = Path(__file__).parent / "static"
routes = web.RouteTableDef()


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


@docs(
    tags=["live"],
    summary="The kiosk page of a show (HTML)",
    security=[],
    responses={
        "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}},
        "404": {"description": "Not an id", "content": ERROR_CONTENT},
    },
)
@routes.get(r"/kiosk/{id:\d+}")
async def kiosk(request: web.Request) -> web.FileResponse:
    path_id(request)  # one spelling per show, as on every id route
    return web.FileResponse(STATIC / "kiosk.html", headers=PAGE_HEADERS)


routes.static("/kiosk/static", STATIC)
