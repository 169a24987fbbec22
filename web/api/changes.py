"""The change feed (admin): `GET /events/?after=<event id>&limit=N` lists the outbox's events in order, the same
events webhooks receive, for systems that pull rather than receive. Ids follow commit order, so a poller that
passes back `next_after` never misses an event."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema

from web import schemas
from web.hooks.delivery import DELIVERER
from web.hooks.payload import render
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.schemas.webhooks import MAX_FEED_PAGE, query_int
from web.security.auth import require_admin

routes = web.RouteTableDef()
MAX_EVENT_ID = 2**63 - 1


@docs(tags=["webhooks"], summary="Events after a given one, oldest first (admin): the feed to poll")
@querystring_schema(schemas.FeedQuery)
@response_schema(schemas.EventPage, 200, description="Up to `limit` events; empty when there is nothing newer")
@errors(401, 403, {400: "after or limit is not a whole number in range, or an unknown query parameter"})
@routes.get("/events/")
async def feed(request: web.Request) -> web.Response:
    await require_admin(request)
    unknown = sorted(set(request.query) - {"after", "limit"})
    if unknown:
        raise fail("invalid_query", f"Unknown query parameter {unknown[0][:40]!r}: use after and limit.")
    after = query_int(request, "after", 0, 0, MAX_EVENT_ID)
    limit = query_int(request, "limit", 100, 1, MAX_FEED_PAGE)
    store = request.app[DELIVERER].store
    events = await store.events(after, limit)
    shows = await store.shows(sorted({e.show_id for e in events if e.show_id is not None}))
    return json_response(
        {
            "events": [render(e, shows.get(e.show_id) if e.show_id is not None else None) for e in events],
            "next_after": events[-1].id if events else after,
        }
    )
