"""Booking, cancelling and listing one's bookings. Book and cancel go to the show's actor, never to SQL."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from engine.actor import Booking
from engine.layout import ShowPlan
from engine.seats import Outcome
from web import schemas
from web.context import ENGINE, REPOSITORY
from web.http.body import load_body, read_json_object, validate_body
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.http.refusals import refuse, refuse_in, refuse_seats
from web.schemas.catalog import show_brief, show_brief_json
from web.security.auth import authenticate
from web.security.idempotency import PARAMETER as IDEMPOTENCY_KEY
from web.security.idempotency import idempotent
from web.security.ticket_codes import TICKETS, TicketCodes

routes = web.RouteTableDef()


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
@request_schema(schemas.BookRequest, example={"seat_number": 12})
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
@errors(
    401,
    422,
    {
        400: "Invalid body or seat outside 1..total_seats",
        404: "No such show",
        409: "Seat taken, not available, sold out, no adjacent seats, the show has started, or a companion "
        "seat without its wheelchair space, or over the per-customer seat limit",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/shows/{id:\d+}/book/")
async def book(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    show_id = schemas.path_id(request)
    return await idempotent(request, principal.user_id, lambda: _book(request, principal.user_id, show_id))


async def _book(request: web.Request, user_id: int, show_id: int) -> web.Response:
    data = await read_json_object(request)
    engine = request.app[ENGINE]
    seat = schemas.plain_seat_number(data)
    if seat is None:
        body = validate_body(data, schemas.BookRequest)
        seat = body.get("seat_number")
    if seat is not None:
        reply = await engine.book(show_id, user_id, seat)
        if reply.booking is None:
            raise await refuse_seats(request, show_id, reply.outcome, (seat,), (seat,))
        return json_response(booking_json(reply.booking, engine.plan(show_id), request.app[TICKETS]), status=201)
    asked: tuple[int, ...] = tuple(body.get("seat_numbers", ()))
    if asked:
        reply = await engine.book_seats(show_id, user_id, asked)
    else:
        reply = await engine.book_best(show_id, user_id, body["count"], body.get("wheelchair", 0))
    if not reply.bookings:
        raise await refuse_seats(request, show_id, reply.outcome, reply.seats, asked)
    return json_response(_bookings_answer(request, show_id, reply.bookings), status=201)


def _bookings_answer(request: web.Request, show_id: int, bookings: tuple[Booking, ...]) -> dict[str, Any]:
    """`{"bookings": [...]}`, with the order they make up and its total when the show is priced."""
    answer: dict[str, Any] = {"bookings": bookings_json(request, show_id, bookings), "order": bookings[0].order_id}
    total = request.app[ENGINE].plan(show_id).total([b.seat_number for b in bookings])
    if total is not None:
        answer["total"] = total
    return answer


@docs(tags=["holds"], summary="Hold seats while the customer pays; they are freed when the hold expires")
@request_schema(schemas.HoldRequest, example={"seat_numbers": [20, 21]})
@response_schema(schemas.HoldCreated, 201, description="Held until expires_at")
@errors(
    401,
    422,
    {
        400: "Invalid body or seat outside 1..total_seats",
        404: "No such show",
        409: "Some seats are not free (listed in `seats`), or over the seat limit",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/shows/{id:\d+}/hold/")
async def hold(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    show_id = schemas.path_id(request)

    async def run() -> web.Response:
        seats = tuple((await load_body(request, schemas.HoldRequest))["seat_numbers"])
        engine = request.app[ENGINE]
        reply = await engine.hold(show_id, principal.user_id, seats)
        if reply.hold is None:
            raise await refuse_seats(request, show_id, reply.outcome, reply.seats, seats)
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
@errors(401, 422, {404: "No such hold, or not yours", 409: "The hold has expired"})
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/holds/{hold_id:[0-9a-f]{32}}/confirm/")
async def confirm_hold(request: web.Request) -> web.Response:
    principal = await authenticate(request)

    async def run() -> web.Response:
        reply = await request.app[ENGINE].confirm_hold(request.match_info["hold_id"], principal.user_id)
        if not reply.bookings:
            raise refuse(reply.outcome, hidden_as="unknown_hold")
        return json_response(_bookings_answer(request, reply.bookings[0].show.id, reply.bookings), status=201)

    return await idempotent(request, principal.user_id, run)


@docs(tags=["holds"], summary="Release a hold; its seats are free at once")
@response_schema(schemas.HoldReleased, 200, description="Released")
@errors(401, {404: "No such hold, or not yours"})
@routes.delete(r"/holds/{hold_id:[0-9a-f]{32}}/")
async def release_hold(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    hold_id = request.match_info["hold_id"]
    reply = await request.app[ENGINE].release_hold(hold_id, principal.user_id)
    if reply.outcome is not Outcome.HOLD_RELEASED:
        raise refuse(reply.outcome, hidden_as="unknown_hold")
    return json_response({"detail": "Hold released.", "hold_id": hold_id})


@docs(tags=["bookings"], summary="Cancel one of your bookings; the seat is free at once")
@response_schema(schemas.Cancelled, 200, description="Cancelled")
@errors(
    401,
    {404: "No such booking, or not yours", 409: "Already cancelled, past the cancel cutoff, or scanned at the door"},
)
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
@errors(401)
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
