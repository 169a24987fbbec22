"""The programme: the shows of a day (any film) and one show with its film, for the kiosk's header and its list
of other shows, and for the door page's pick of today's shows. Public, like the movie listings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema
from marshmallow import ValidationError

from web import schemas
from web.context import ENGINE, REPOSITORY
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors

routes = web.RouteTableDef()
DEFAULT_SPAN = timedelta(days=1)
MAX_SPAN = timedelta(days=8)  # a week's programme and a little; the listing is bounded in rows as well


def _window(request: web.Request) -> tuple[datetime, datetime]:
    try:
        query = schemas.ProgrammeQuery().load(dict(request.query))
    except ValidationError as error:
        raise fail("invalid_query", "from and to must be ISO 8601 times.", errors=error.messages) from None
    now = datetime.now(UTC)
    starts_from = query.get("starts_from") or now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts_before = query.get("starts_before") or starts_from + DEFAULT_SPAN
    if not starts_from < starts_before <= starts_from + MAX_SPAN:
        raise fail("invalid_query", f"`to` must come after `from`, at most {MAX_SPAN.days} days after it.")
    return starts_from.astimezone(UTC), starts_before.astimezone(UTC)


@docs(
    tags=["movies"],
    summary="The programme: every show starting in a time window (default: today in UTC), with its film",
    description="A page shows a local day by sending its own midnights, e.g. "
    "`?from=2030-01-01T00:00:00+01:00&to=2030-01-02T00:00:00+01:00`. At most 500 shows.",
    security=[],
)
@querystring_schema(schemas.ProgrammeQuery)
@response_schema(schemas.Programme, 200, description="The shows in start order")
@errors({400: "from or to is not an ISO 8601 time, or the window is empty or longer than 8 days"})
@routes.get("/shows/")
async def programme(request: web.Request) -> web.Response:
    starts_from, starts_before = _window(request)
    entries = await request.app[REPOSITORY].programme(starts_from=starts_from, starts_before=starts_before)
    engine = request.app[ENGINE]
    return json_response(
        {
            "from": starts_from.isoformat(),
            "to": starts_before.isoformat(),
            "shows": [schemas.programme_entry(entry, engine.committed_free_seats(entry.show.id)) for entry in entries],
        }
    )


@docs(tags=["movies"], summary="One show with its film, screen, start and end, and free seats", security=[])
@response_schema(schemas.ProgrammeShow, 200, description="The show")
@errors({404: "No such show"})
@routes.get(r"/shows/{id:\d+}/")
async def one_show(request: web.Request) -> web.Response:
    entries = await request.app[REPOSITORY].programme(show_id=schemas.path_id(request))
    if not entries:
        raise fail("unknown_show")
    entry = entries[0]
    return json_response(schemas.programme_entry(entry, request.app[ENGINE].committed_free_seats(entry.show.id)))
