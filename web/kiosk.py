"""The kiosk page: plain HTML and JavaScript served by the service itself (no build step, no CDN)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
routes = web.RouteTableDef()


@routes.get(r"/kiosk/{id:\d+}")
async def kiosk(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "kiosk.html", headers={"Cache-Control": "no-cache"})


routes.static("/kiosk/static", STATIC)
