"""The programme: GET /shows/, the shows of a day (or a range) by the cinema's own calendar, a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema
from marshmallow import ValidationError

from engine.service import BookingEngine
from storage.repository import ProgrammeEntry
from web import schemas
from web.context import ENGINE, REPOSITORY, SETTINGS
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.http.paging import paged
from web.schemas.catalog import show_brief

routes = web.RouteTableDef()


def programme_json(engine: BookingEngine, entry: ProgrammeEntry, zone: Any) -> dict[str, Any]:
    listing, movie = entry.listing, entry.movie
    local = listing.show.date_time.astimezone(zone)
    answer = {
        **show_brief(listing.show),
        "movie": {"id": movie.id, "title": movie.title, "duration_minutes": movie.duration_minutes},
        "screen_id": listing.screen_id,
        "local_time": local.isoformat(),
        "local_date": local.date().isoformat(),
        "ends_at": entry.ends_at.isoformat() if entry.ends_at else None,
        "available_seats": engine.free_seats(listing.show, listing.taken),
    }
    if listing.prices is not None:
        answer["prices"] = listing.prices.as_json()
    return answer


@docs(
    tags=["movies"],
    summary="The programme: shows of a day or a range, in order of their start",
    description="`date` is one local day of the cinema (`CINEMA_TIMEZONE`, so a day is 23 or 25 hours across a "
    "daylight-saving change); `from` and `to` take days (a `to` day is included) or times. Without any of them: "
    "from the start of today on. Paginated like /movies/.",
    security=[],
)
@querystring_schema(schemas.ProgrammeQuery)
@response_schema(schemas.ProgrammePage, 200, description="A page of shows")
@errors({400: "Invalid query (code invalid_query)", 404: "Invalid page"})
@routes.get("/shows/")
async def programme(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    zone = settings.zone
    try:
        query = schemas.ProgrammeFilters().load({k: v for k, v in request.query.items() if k != "page"})
        starts, ends = schemas.time_window(query, zone, datetime.now(zone).date())
    except ValidationError as error:
        raise fail("invalid_query", errors=error.messages) from None
    repository, engine = request.app[REPOSITORY], request.app[ENGINE]

    async def fetch(offset: int, limit: int) -> tuple[int, list[ProgrammeEntry]]:
        return await repository.programme(
            starts, ends, movie_id=query.get("movie"), screen_id=query.get("screen"), offset=offset, limit=limit
        )

    page = await paged(
        request, settings.public_url, settings.page_size, fetch, lambda e: programme_json(engine, e, zone)
    )
    return json_response({**page, "timezone": settings.timezone})


@docs(
    tags=["movies"],
    summary="One show as the programme lists it: its film, screen, start (UTC and local), end and free seats",
    security=[],
)
@response_schema(schemas.ProgrammeShow, 200, description="The show")
@errors({404: "No such show"})
@routes.get(r"/shows/{id:\d+}/")
async def one_show(request: web.Request) -> web.Response:
    """What the kiosk's header says (film, day, time, screen), and the local day whose other shows it lists."""
    _, entries = await request.app[REPOSITORY].programme(None, None, show_id=schemas.path_id(request), limit=1)
    if not entries:
        raise fail("unknown_show")
    return json_response(programme_json(request.app[ENGINE], entries[0], request.app[SETTINGS].zone))
