"""Booking, cancelling and listing one's bookings. Book and cancel go to the show's actor, never to SQL."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from engine.actor import Booking
from engine.layout import ShowPlan
from engine.seats import Outcome
from web import schemas
from web.auth import authenticate
from web.catalog import show_brief, show_brief_json
from web.context import ENGINE, REPOSITORY, SETTINGS
from web.errors import ApiError
from web.idempotency import PARAMETER as IDEMPOTENCY_KEY
from web.idempotency import idempotent
from web.jsonio import json_response
from web.ticket_codes import TICKETS, TicketCodes

routes = web.RouteTableDef()

REFUSALS: dict[Outcome, tuple[int, str]] = {
    Outcome.SEAT_TAKEN: (409, "Seat {seats} is already booked."),
    Outcome.SEATS_UNAVAILABLE: (409, "Not available (booked, held or blocked): seats {seats}."),
    Outcome.SOLD_OUT: (409, "The show is sold out."),
    Outcome.NO_ADJACENT_SEATS: (409, "No row has that many adjacent free seats (or the show has no row layout)."),
    Outcome.SEAT_OUT_OF_RANGE: (400, "Seat number must be between 1 and the show's total seats."),
    Outcome.UNKNOWN_BOOKING: (404, "Booking not found."),
    Outcome.NOT_OWNER: (404, "Not found."),  # someone else's booking or hold is not revealed
    Outcome.ALREADY_CANCELLED: (409, "Booking is already cancelled."),
    Outcome.UNKNOWN_HOLD: (404, "Hold not found (it may have been confirmed, released or expired)."),
    Outcome.HOLD_EXPIRED: (409, "The hold has expired; its seats were released."),
    Outcome.SHOW_STARTED: (409, "The show has started: its seats can no longer be booked, held or changed."),
    Outcome.CANCEL_CLOSED: (409, "Too late to cancel: cancelling closes {cutoff} minutes before the show starts."),
    Outcome.COMPANION_NEEDS_WHEELCHAIR: (
        409,
        "Companion seat {seats} can only be booked together with the wheelchair space beside it.",
    ),
    Outcome.UNKNOWN_ORDER: (404, "Order not found."),
    Outcome.TICKET_USED: (409, "The ticket has been scanned at the door; it can no longer be cancelled."),
    Outcome.ALREADY_CHECKED_IN: (409, "Already checked in."),
    Outcome.TICKET_CANCELLED: (410, "This ticket was cancelled."),
    Outcome.UNKNOWN_TICKET: (404, "Unknown ticket, or a ticket for another show."),
    Outcome.CHECK_IN_CLOSED: (409, "Check-in is not open for this show now."),
}


def refuse(outcome: Outcome, seats: tuple[int, ...] = (), cutoff: float = 0) -> ApiError:
    status, detail = REFUSALS[outcome]
    with_seats = outcome in (Outcome.SEATS_UNAVAILABLE, Outcome.COMPANION_NEEDS_WHEELCHAIR)
    extra = {"seats": list(seats)} if with_seats else {}
    message = detail.format(seats=", ".join(map(str, seats)), cutoff=f"{cutoff:g}")
    return ApiError(status, message, code=outcome.value, **extra)


def refuse_in(request: web.Request, outcome: Outcome, seats: tuple[int, ...] = ()) -> ApiError:
    """`refuse`, with the service's cancel cutoff for the message that names it."""
    return refuse(outcome, seats, request.app[SETTINGS].cancel_cutoff_minutes)


def booking_json(booking: Booking, plan: ShowPlan, tickets: TicketCodes) -> dict[str, Any]:
    """The seed's booking answer, plus its order, ticket code and (when the show has them) seat label and price.
    For json_response: orjson writes the datetime as isoformat() would, without a Python call per answer."""
    answer = {
        "id": booking.id,
        "user": booking.user_id,
        "show": show_brief_json(booking.show),
        "seat_number": booking.seat_number,
        "status": booking.status,
        "created_at": booking.created_at,
        "order": booking.order_id or booking.id,
        "ticket": tickets.code(booking.id),
    }
    if plan.layout is not None:
        answer["seat_label"] = plan.layout.place(booking.seat_number).label
    if plan.prices is not None:
        answer["price"] = plan.price(booking.seat_number)
    return answer


def bookings_json(request: web.Request, show_id: int, bookings: tuple[Booking, ...]) -> list[dict[str, Any]]:
    plan, tickets = request.app[ENGINE].plan(show_id), request.app[TICKETS]
    return [booking_json(b, plan, tickets) for b in bookings]


@docs(
    tags=["bookings"],
    summary="Book a seat, several seats (all or none), or the best `count` adjacent seats",
    description='`{"seat_number": n}` answers one booking, as the Django service did; `seat_numbers` and '
    '`count` answer `{"bookings": [...]}`. Send an `Idempotency-Key` header to retry safely.',
)
@request_schema(schemas.BookRequest)
@docs(
    responses={
        "201": {
            "description": "Booked; durable before this answer. One booking for seat_number, {bookings} otherwise",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/Booking"},
                            {"$ref": "#/components/schemas/Bookings"},
                        ]
                    }
                }
            },
        }
    }
)
@response_schema(schemas.Error, 400, description="Invalid body or seat outside 1..total_seats")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 404, description="No such show")
@response_schema(
    schemas.Error,
    409,
    description="Seat taken, not available, sold out, no adjacent seats, the show has started, or a companion "
    "seat without its wheelchair space",
)
@response_schema(schemas.Error, 422, description="Idempotency-Key reused with a different request")
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/shows/{id:\d+}/book/")
async def book(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    show_id = schemas.path_id(request)
    return await idempotent(request, principal.user_id, lambda: _book(request, principal.user_id, show_id))


async def _book(request: web.Request, user_id: int, show_id: int) -> web.Response:
    data = await schemas.read_json_object(request)
    engine = request.app[ENGINE]
    seat = schemas.plain_seat_number(data)
    if seat is None:
        body = schemas.validate_body(data, schemas.BookRequest)
        seat = body.get("seat_number")
    if seat is not None:
        reply = await engine.book(show_id, user_id, seat)
        if reply.booking is None:
            raise refuse(reply.outcome, (seat,))
        return json_response(booking_json(reply.booking, engine.plan(show_id), request.app[TICKETS]), status=201)
    if "seat_numbers" in body:
        reply = await engine.book_seats(show_id, user_id, tuple(body["seat_numbers"]))
    else:
        reply = await engine.book_best(show_id, user_id, body["count"], body.get("wheelchair", 0))
    if not reply.bookings:
        raise refuse(reply.outcome, reply.seats)
    return json_response(_bookings_answer(request, show_id, reply.bookings), status=201)


def _bookings_answer(request: web.Request, show_id: int, bookings: tuple[Booking, ...]) -> dict[str, Any]:
    """`{"bookings": [...]}`, with the order they make up and its total when the show is priced."""
    answer: dict[str, Any] = {"bookings": bookings_json(request, show_id, bookings), "order": bookings[0].order_id}
    total = request.app[ENGINE].plan(show_id).total([b.seat_number for b in bookings])
    if total is not None:
        answer["total"] = total
    return answer


@docs(tags=["holds"], summary="Hold seats while the customer pays; they are freed when the hold expires")
@request_schema(schemas.HoldRequest)
@response_schema(schemas.HoldCreated, 201, description="Held until expires_at")
@response_schema(schemas.Error, 400, description="Invalid body or seat outside 1..total_seats")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 404, description="No such show")
@response_schema(schemas.Error, 409, description="Some seats are not free (listed in `seats`)")
@response_schema(schemas.Error, 422, description="Idempotency-Key reused with a different request")
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/shows/{id:\d+}/hold/")
async def hold(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    show_id = schemas.path_id(request)

    async def run() -> web.Response:
        seats = tuple((await schemas.load_body(request, schemas.HoldRequest))["seat_numbers"])
        engine = request.app[ENGINE]
        reply = await engine.hold(show_id, principal.user_id, seats)
        if reply.hold is None:
            raise refuse(reply.outcome, reply.seats)
        answer = {
            "hold_id": reply.hold.hold_id,
            "show_id": show_id,
            "seat_numbers": list(reply.hold.seats),
            "expires_at": reply.hold.expires_at.isoformat(),
        }
        total = engine.plan(show_id).total(reply.hold.seats)
        if total is not None:
            answer["price"] = total
        return json_response(answer, status=201)

    return await idempotent(request, principal.user_id, run)


@docs(tags=["holds"], summary="Turn a hold into bookings")
@response_schema(schemas.Bookings, 201, description="Booked")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 404, description="No such hold, or not yours")
@response_schema(schemas.Error, 409, description="The hold has expired")
@response_schema(schemas.Error, 422, description="Idempotency-Key reused with a different request")
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/holds/{hold_id:[0-9a-f]{32}}/confirm/")
async def confirm_hold(request: web.Request) -> web.Response:
    principal = await authenticate(request)

    async def run() -> web.Response:
        reply = await request.app[ENGINE].confirm_hold(request.match_info["hold_id"], principal.user_id)
        if not reply.bookings:
            raise refuse(reply.outcome)
        return json_response(_bookings_answer(request, reply.bookings[0].show.id, reply.bookings), status=201)

    return await idempotent(request, principal.user_id, run)


@docs(tags=["holds"], summary="Release a hold; its seats are free at once")
@response_schema(schemas.HoldReleased, 200, description="Released")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 404, description="No such hold, or not yours")
@routes.delete(r"/holds/{hold_id:[0-9a-f]{32}}/")
async def release_hold(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    hold_id = request.match_info["hold_id"]
    reply = await request.app[ENGINE].release_hold(hold_id, principal.user_id)
    if reply.outcome is not Outcome.HOLD_RELEASED:
        raise refuse(reply.outcome)
    return json_response({"detail": "Hold released.", "hold_id": hold_id})


@docs(tags=["bookings"], summary="Cancel one of your bookings; the seat is free at once")
@response_schema(schemas.Cancelled, 200, description="Cancelled")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 404, description="No such booking, or not yours")
@response_schema(schemas.Error, 409, description="Already cancelled, past the cancel cutoff, or scanned at the door")
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/bookings/{id:\d+}/cancel/")
async def cancel(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    booking_id = schemas.path_id(request)

    async def run() -> web.Response:
        reply = await request.app[ENGINE].cancel(booking_id, principal.user_id)
        if reply.outcome is not Outcome.CANCELLED:
            raise refuse_in(request, reply.outcome)
        return json_response({"detail": "Booking cancelled.", "booking_id": reply.booking_id})

    return await idempotent(request, principal.user_id, run)


@docs(tags=["bookings"], summary="Your bookings, newest first")
@response_schema(schemas.MyBooking(many=True), 200, description="Your bookings")
@response_schema(schemas.Error, 401, description="Not authenticated")
@routes.get("/my-bookings/")
async def my_bookings(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    rows = await request.app[REPOSITORY].bookings_of_user(principal.user_id)
    return json_response(
        [
            {
                "id": row.id,
                "status": row.status,
                "seat_number": row.seat_number,
                "created_at": row.created_at.isoformat(),
                "show": {
                    **show_brief(row.show),
                    "movie": {
                        "id": row.movie.id,
                        "title": row.movie.title,
                        "duration_minutes": row.movie.duration_minutes,
                    },
                },
            }
            for row in rows
        ]
    )
