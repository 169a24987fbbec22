"""Screens: halls with reusable seat layouts (rows of seats and gaps), created by admins."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from engine.layout import detailed_layout
from storage.repository import ScreenNameTaken, ScreenRow
from web import schemas
from web.context import REPOSITORY
from web.http.body import load_body
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.security.auth import require_admin

routes = web.RouteTableDef()


def screen_json(screen: ScreenRow) -> dict[str, Any]:
    return {
        "id": screen.id,
        "name": screen.name,
        "total_seats": screen.layout.total_seats,
        "rows": screen.layout.as_json(),
    }


@docs(
    tags=["screens"],
    summary="Add a screen with its seat layout (admin)",
    description="Rows front to back; each row's `positions` left to right are seats or `null` gaps (aisles). A seat "
    "has a `label`, a `category` (priced per show, default standard) and a `kind`: standard, wheelchair (a space) "
    "or companion (booked only together with the wheelchair space right beside it). Seat numbers run 1.. through "
    "the rows, skipping gaps.",
)
@request_schema(schemas.ScreenRequest)
@response_schema(schemas.ScreenCreated, 201, description="Created")
@errors({400: "Invalid layout", 409: "A screen of that name exists"})
@errors(401, 403)
@routes.post("/screens/")
async def create_screen(request: web.Request) -> web.Response:
    await require_admin(request)
    data = await load_body(request, schemas.ScreenRequest)
    layout = detailed_layout(
        [
            (
                row["label"],
                [None if p is None else (p["label"], p["category"], p["kind"]) for p in row["positions"]],
            )
            for row in data["rows"]
        ]
    )
    try:
        screen = await request.app[REPOSITORY].create_screen(data["name"], layout)
    except ScreenNameTaken:
        raise fail("screen_name_taken", f"A screen named {data['name']!r} exists already.") from None
    return json_response(screen_json(screen), status=201)


@docs(tags=["screens"], summary="The screens and their layouts", security=[])
@response_schema(schemas.ScreenList, 200, description="Every screen")
@routes.get("/screens/")
async def list_screens(request: web.Request) -> web.Response:
    return json_response({"results": [screen_json(s) for s in await request.app[REPOSITORY].screens()]})
