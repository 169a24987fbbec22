"""Tickets at the door: each booked seat's QR code, and check-in by staff through the show's actor."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema
from marshmallow import ValidationError

from engine.seats import Outcome
from web import schemas
from web.context import ENGINE, REPOSITORY, SETTINGS
from web.http.body import load_body
from web.http.clients import client_of
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.observability import METRICS
from web.http.openapi import errors
from web.http.qr_images import QR_IMAGES, QR_LIMIT
from web.http.refusals import refuse
from web.schemas.catalog import show_brief
from web.security.auth import require_staff
from web.security.idempotency import PARAMETER as IDEMPOTENCY_KEY
from web.security.idempotency import idempotent
from web.security.ticket_codes import TICKETS, canonical

routes = web.RouteTableDef()
IMMUTABLE = "private, max-age=31536000, immutable"  # an image depends on its code alone
QR_ANSWERS = {
    "304": {"description": "Not modified (If-None-Match names the image's ETag)"},
    "429": {"description": "Too many QR images from this address (see Retry-After)"},
    "503": {"description": "Too many images being rendered at once (see Retry-After)"},
}
CODE_PATTERN = r"{code:[0-9]+-[A-Za-z2-7]+}"  # the exact shape is checked with the tag (no braces: see openapi)


def _genuine(request: web.Request) -> str:
    code = canonical(request.match_info["code"])
    if request.app[TICKETS].booking_id(code) is None:
        raise fail("unknown_ticket")
    return code


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


@docs(
    tags=["tickets"],
    summary="A ticket's QR code (SVG)",
    description="Anyone holding the code may draw it; the code is the ticket. Forged codes are a 404.",
    security=[],
)
@docs(
    responses={
        "200": {"description": "image/svg+xml"},
        "404": {"description": "Not a genuine ticket code"},
        **QR_ANSWERS,
    }
)
@routes.get(rf"/tickets/{CODE_PATTERN}/qr.svg")
async def qr_svg(request: web.Request) -> web.Response:
    return await _qr(request, "svg")


@docs(tags=["tickets"], summary="A ticket's QR code (PNG)", security=[])
@docs(
    responses={"200": {"description": "image/png"}, "404": {"description": "Not a genuine ticket code"}, **QR_ANSWERS}
)
@routes.get(rf"/tickets/{CODE_PATTERN}/qr.png")
async def qr_png(request: web.Request) -> web.Response:
    return await _qr(request, "png")


async def _qr(request: web.Request, kind: str) -> web.Response:
    """Rate-limited per client, rendered once per code (web/http/qr_images.py), and cacheable for ever."""
    client = client_of(request)
    wait = request.app[QR_LIMIT].hit(client)
    if wait:
        request.app[METRICS].limit_refusals.note("qr_images", client, logged=False)
        raise fail("rate_limited", "Too many QR images from this address; try again later.", {"Retry-After": str(wait)})
    image = await request.app[QR_IMAGES].image(_genuine(request), kind)
    headers = {"Cache-Control": IMMUTABLE, "ETag": image.etag}
    if image.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=image.body, content_type=image.content_type, headers=headers)


@docs(
    tags=["tickets"],
    summary="Scan a ticket at the door of a show (staff)",
    description="Written ahead through the show's actor like a booking, so a check-in and a cancel of the same "
    "ticket never both succeed. The door opens a configurable time before the start and closes at the film's end. "
    "A scanner reads a code many times: the same staff scanning the same ticket again within "
    "`CINEMA_DOOR_RESCAN_SECONDS` (5) of admitting it is answered the same 200 (header `Idempotent-Replayed: "
    "true`), not `already_checked_in`; an `Idempotency-Key` makes a retried request answer what the first did.",
)
@request_schema(schemas.CheckInRequest)
@response_schema(schemas.CheckedIn, 200, description="Admitted: who, which show, which seat")
@errors(
    401,
    422,
    {
        400: "Invalid body",
        403: "Not door staff",
        404: "Unknown or forged code (`unknown_ticket`), or a ticket for another show (`wrong_show`, naming it)",
        409: "Scanned before (`first_checked_in_at` says when), or the door is not open",
        410: "The ticket was cancelled",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post("/check-in/")
async def check_in(request: web.Request) -> web.Response:
    staff_id = await require_staff(request)
    return await idempotent(request, staff_id, lambda: _check_in(request, staff_id))


async def _check_in(request: web.Request, staff_id: int) -> web.Response:
    data = await load_body(request, schemas.CheckInRequest)
    code, show_id = canonical(data["code"]), data["show_id"]
    booking_id = request.app[TICKETS].booking_id(code)
    if booking_id is None:
        raise refuse(Outcome.UNKNOWN_TICKET)
    engine = request.app[ENGINE]
    repository = request.app[REPOSITORY]
    reply = await engine.check_in(show_id, booking_id, staff_id)
    if reply.outcome is Outcome.ALREADY_CHECKED_IN:
        assert reply.checked_in_at is not None and reply.user_id is not None
        window = request.app[SETTINGS].door_rescan_seconds
        if time.time() - reply.checked_in_at <= window and await repository.checked_in_by(booking_id) == staff_id:
            # the scanner's own second read of a ticket it has just let in: the same answer, not a refusal
            seat, holder, at = reply.seats[0], reply.user_id, reply.checked_in_at
            body = await _admitted(request, code, booking_id, show_id, seat, holder, at)
            return json_response(body, headers={"Idempotent-Replayed": "true"})
        first = _iso(reply.checked_in_at)
        layout = engine.plan(show_id).layout
        raise fail(
            "already_checked_in",
            f"Already checked in at {first}.",
            first_checked_in_at=first,
            seat_number=reply.seats[0],
            **({"seat_label": layout.place(reply.seats[0]).label} if layout is not None else {}),
        )
    if reply.outcome is Outcome.UNKNOWN_TICKET:
        other = await repository.show_of_booking(booking_id)
        if other is not None and other != show_id:  # a genuine ticket at the wrong door: say which one
            show = await repository.show(other)
            brief = show_brief(show) if show is not None else {"id": other}
            where = f" ({show.screen_name}, {show.date_time.isoformat()})" if show is not None else ""
            raise fail("wrong_show", f"This ticket is for another show: show {other}{where}.", show=brief)
    if reply.outcome is not Outcome.CHECKED_IN:
        raise refuse(reply.outcome)
    assert reply.user_id is not None and reply.checked_in_at is not None
    return json_response(
        await _admitted(request, code, booking_id, show_id, reply.seats[0], reply.user_id, reply.checked_in_at)
    )


async def _admitted(
    request: web.Request, code: str, booking_id: int, show_id: int, seat: int, user_id: int, at: float
) -> dict[str, Any]:
    repository = request.app[REPOSITORY]
    holder = await repository.user_by_id(user_id)
    plan = request.app[ENGINE].plan(show_id)
    snapshot_show = await repository.show(show_id)
    answer: dict[str, Any] = {
        "detail": "Admitted.",
        "ticket": code,
        "booking_id": booking_id,
        "show": show_brief(snapshot_show) if snapshot_show else {"id": show_id},
        "seat_number": seat,
        "ticket_type": await repository.ticket_type_of(booking_id),
        "holder": {"id": user_id, "username": holder.username if holder else None},
        "checked_in_at": _iso(at),
    }
    if plan.layout is not None:
        answer["seat_label"] = plan.layout.place(seat).label
    return answer


@docs(
    tags=["tickets"],
    summary="The door's running count of a show: tickets sold and scanned in (staff)",
    description="What the door page shows beside each scan, and when the door opens and closes.",
)
@querystring_schema(schemas.DoorQuery)
@response_schema(schemas.DoorCount, 200, description="The show, its sold and admitted tickets, the door's hours")
@errors(401, {400: "show_id missing or not an id", 403: "Not door staff", 404: "No such show"})
@routes.get("/check-in/")
async def door_count(request: web.Request) -> web.Response:
    await require_staff(request)
    unknown = sorted(set(request.query) - {"show_id"})
    if unknown:
        raise fail("invalid_query", f"Unknown query parameter {unknown[0][:40]!r}: use show_id.")
    try:
        show_id = schemas.DoorQuery().load(dict(request.query))["show_id"]
    except ValidationError as error:
        raise fail("invalid_query", "Name the show: /check-in/?show_id=N.", errors=error.messages) from None
    repository = request.app[REPOSITORY]
    _, entries = await repository.programme(None, None, show_id=show_id, limit=1)
    if not entries:
        raise fail("unknown_show")
    entry = entries[0]
    show, movie = entry.listing.show, entry.movie
    sold, admitted = await repository.door_counts(show_id)
    opens = show.date_time - timedelta(minutes=request.app[SETTINGS].check_in_opens_minutes)
    closes = entry.ends_at or show.date_time + timedelta(minutes=movie.duration_minutes)
    return json_response(
        {
            "show": {
                **show_brief(show),
                "movie": {"id": movie.id, "title": movie.title, "duration_minutes": movie.duration_minutes},
            },
            "sold": sold,
            "admitted": admitted,
            "opens_at": opens.astimezone(UTC).isoformat(),
            "closes_at": closes.astimezone(UTC).isoformat(),
        }
    )
