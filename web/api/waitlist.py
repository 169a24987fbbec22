"""The waiting list of sold-out shows: join, list one's entries and their offers, leave.

The show's actor keeps the list and offers seats that come back (engine/waitlist.py has the rules); an offer is a
hold of the customer's, confirmed with POST /holds/{id}/confirm/ like any other.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from engine.ports import StorageUnavailable
from engine.waitlist import WaitlistOutcome
from web import schemas
from web.context import ENGINE, REPOSITORY, SETTINGS
from web.http.body import load_body
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.schemas.catalog import show_brief
from web.security.auth import authenticate
from web.security.idempotency import PARAMETER as IDEMPOTENCY_KEY
from web.security.idempotency import idempotent

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
MAX_WOKEN_SHOWS = 1000  # at start-up; any other show with offers is woken by its next request


async def wake_offers(app: web.Application) -> None:
    """On start-up: load the shows with live offers, so that an offer which expired while the service was down
    passes to the next entry at once. Not in cluster mode, where loading a show takes its lease."""
    if app[SETTINGS].cluster_secret:
        return
    try:
        shows = await app[REPOSITORY].shows_with_waitlist_offers(MAX_WOKEN_SHOWS)
    except StorageUnavailable as error:
        log.warning("waiting-list offers not checked at start-up: %s", error)
        return
    app[ENGINE].wake(shows)


@docs(
    tags=["waitlist"],
    summary="Wait for seats of a sold-out show; seats that come back are offered as a hold",
    description="Only a show with no free seat takes entries. When seats come back (a cancel, a released or expired "
    "hold, an unblock) the show offers them at once to the first entry they fit: a `together` party only adjacent "
    "seats in one row, chosen as best-available `count` bookings choose them; a party behind may be offered seats "
    "the first cannot use (at most 50 waiting entries are looked at per change). The offer is a hold of yours for "
    "CINEMA_WAITLIST_OFFER_SECONDS: see it in GET /my-waitlist/ (or as a `waitlist_offered` event), confirm it "
    "with POST /holds/{hold_id}/confirm/. Declined or expired, the seats pass to the next entry and yours ends.",
)
@request_schema(schemas.WaitlistRequest, example={"party_size": 4, "together": True})
@response_schema(schemas.WaitlistJoined, 201, description="On the list, at `position`")
@errors(
    401,
    422,
    {
        400: "Invalid body",
        404: "No such show",
        409: "Seats are free (book them), already on this list, the list is full, party_size over the "
        "per-customer seat limit (counting seats you have), the show has started, or a together party on a show "
        "without rows",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/shows/{id:\d+}/waitlist/")
async def join(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    show_id = schemas.path_id(request)

    async def run() -> web.Response:
        body = await load_body(request, schemas.WaitlistRequest)
        party_size = body["party_size"]
        reply = await request.app[ENGINE].join_waitlist(show_id, principal.user_id, party_size, body["together"])
        if reply.outcome is not WaitlistOutcome.JOINED:
            raise fail(reply.outcome.value)
        answer = {
            "entry_id": reply.entry_id,
            "position": reply.position,
            "show_id": show_id,
            "party_size": party_size,
            "together": body["together"],
        }
        return json_response(answer, status=201)

    return await idempotent(request, principal.user_id, run)


@docs(tags=["waitlist"], summary="Your waiting-list entries (waiting, or with an offer to confirm), oldest first")
@response_schema(schemas.MyWaitlistEntry(many=True), 200, description="Your live entries")
@errors(401)
@routes.get("/my-waitlist/")
async def my_waitlist(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    rows = await request.app[REPOSITORY].waitlist_of_user(principal.user_id)
    engine = request.app[ENGINE]
    answer = []
    for row in rows:
        offer: dict[str, Any] | None = None
        if row.hold_id is not None and row.expires_at is not None:
            offer = {"hold_id": row.hold_id, "seats": list(row.seats), "expires_at": row.expires_at.isoformat()}
            total = engine.plan(row.show.id).total(row.seats)
            if total is not None:
                offer["price"] = total
        answer.append(
            {
                "entry_id": row.entry_id,
                "show": show_brief(row.show),
                "party_size": row.party_size,
                "together": row.together,
                "status": "offered" if offer is not None else "waiting",
                "position": row.position,
                "created_at": row.created_at.isoformat(),
                "offer": offer,
            }
        )
    return json_response(answer)


@docs(tags=["waitlist"], summary="Leave a waiting list; an offer you hold is declined and passes to the next entry")
@response_schema(schemas.WaitlistLeft, 200, description="Left")
@errors(401, {404: "No such live entry, or not yours"})
@routes.delete(r"/waitlist/{entry_id:[0-9a-f]{32}}/")
async def leave(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    entry_id = request.match_info["entry_id"]
    reply = await request.app[ENGINE].leave_waitlist(entry_id, principal.user_id)
    if reply.outcome is not WaitlistOutcome.LEFT:
        raise fail(reply.outcome.value)
    return json_response({"detail": "Left the waiting list.", "entry_id": entry_id})
