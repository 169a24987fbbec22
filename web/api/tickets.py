"""Tickets at the door: each booked seat's QR code, and check-in by staff through the show's actor."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from engine.seats import Outcome
from web import schemas
from web.context import ENGINE, REPOSITORY
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
    "ticket never both succeed. The door opens a configurable time before the start and closes at the film's end.",
)
@request_schema(schemas.CheckInRequest)
@response_schema(schemas.CheckedIn, 200, description="Admitted: who, which show, which seat")
@errors(
    401,
    {
        400: "Invalid body",
        403: "Not door staff",
        404: "Unknown or forged code, or a ticket for another show",
        409: "Scanned before (`first_checked_in_at` says when), or the door is not open",
        410: "The ticket was cancelled",
    },
)
@routes.post("/check-in/")
async def check_in(request: web.Request) -> web.Response:
    staff_id = await require_staff(request)
    data = await load_body(request, schemas.CheckInRequest)
    code, show_id = canonical(data["code"]), data["show_id"]
    booking_id = request.app[TICKETS].booking_id(code)
    if booking_id is None:
        raise refuse(Outcome.UNKNOWN_TICKET)
    engine = request.app[ENGINE]
    reply = await engine.check_in(show_id, booking_id, staff_id)
    if reply.outcome is Outcome.ALREADY_CHECKED_IN:
        assert reply.checked_in_at is not None
        first = _iso(reply.checked_in_at)
        raise fail(
            "already_checked_in",
            f"Already checked in at {first}.",
            first_checked_in_at=first,
            seat_number=reply.seats[0],
        )
    if reply.outcome is not Outcome.CHECKED_IN:
        raise refuse(reply.outcome)
    assert reply.user_id is not None and reply.checked_in_at is not None
    holder = await request.app[REPOSITORY].user_by_id(reply.user_id)
    seat = reply.seats[0]
    plan = engine.plan(show_id)
    snapshot_show = await request.app[REPOSITORY].show(show_id)
    answer = {
        "detail": "Admitted.",
        "ticket": code,
        "booking_id": booking_id,
        "show": show_brief(snapshot_show) if snapshot_show else {"id": show_id},
        "seat_number": seat,
        "holder": {"id": reply.user_id, "username": holder.username if holder else None},
        "checked_in_at": _iso(reply.checked_in_at),
    }
    if plan.layout is not None:
        answer["seat_label"] = plan.layout.place(seat).label
    return json_response(answer)
