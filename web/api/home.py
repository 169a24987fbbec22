"""`GET /`: where a newcomer's first request lands says where everything is."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs

from web.http.jsonio import json_response
from web.version import VERSION

routes = web.RouteTableDef()
INDEX = {
    "service": "Cinema seat booking",
    "docs": "/swagger/",
    "openapi": "/swagger.json",
    "movies": "/movies/",
    "kiosk": "/kiosk/{show_id}",
    "login": "POST /login",
    "health": "/healthz",
    "version": VERSION,
}


@docs(
    tags=["service"],
    summary="Where things are: Swagger UI, the OpenAPI document, movies, the kiosk",
    security=[],
    responses={
        "200": {"description": "Links", "schema": {"type": "object", "additionalProperties": {"type": "string"}}}
    },
)
@routes.get("/")
async def index(_: web.Request) -> web.Response:
    return json_response(INDEX)
