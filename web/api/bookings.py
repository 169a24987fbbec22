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
from web.http.body import load_body, read_body, read_json_object, validate_body
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.http.refusals import refuse, refuse_in, refuse_seats
from web.schemas.catalog import show_brief, show_brief_json
from web.security.auth import Principal, authenticate
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
        "ticket_type": booking.ticket_type,
    }
    if plan.layout is not None:
        answer["seat_label"] = plan.layout.place(booking.seat_number).label
    if plan.prices is not None:
        price = booking.price
        answer["price"] = (
            plan.price(booking.seat_number) if price is None else {"amount": price, "currency": plan.prices.currency}
        )
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
        400: "Invalid body, seat outside 1..total_seats, or a ticket type the show does not sell for those seats",
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
    return await idempotent(request, principal.user_id, lambda: _book(request, principal, show_id))


async def _book(request: web.Request, principal: Principal, show_id: int) -> web.Response:
    """Staff and admins are not bound by the per-customer seat limit (`capped`); customers are."""
    data = await read_json_object(request)
    engine = request.app[ENGINE]
    user_id, capped = principal.user_id, not principal.is_staff
    seat = schemas.plain_seat_number(data)
    types: tuple[str, ...] = ()
    if seat is None:
        body = validate_body(data, schemas.BookRequest)
        seat = body.get("seat_number")
        types = schemas.ticket_types_of(
            body, 1 if seat is not None else len(body.get("seat_numbers", ())) or body["count"]
        )
    if seat is not None:
        reply = await engine.book(show_id, user_id, seat, types[0] if types else "adult", capped)
        if reply.booking is None:
            raise await refuse_seats(request, show_id, reply.outcome, (seat,), (seat,), reply.unpriced)
        return json_response(booking_json(reply.booking, engine.plan(show_id), request.app[TICKETS]), status=201)
    asked: tuple[int, ...] = tuple(body.get("seat_numbers", ()))
    if asked:
        reply = await engine.book_seats(show_id, user_id, asked, types, capped)
    else:
        reply = await engine.book_best(show_id, user_id, body["count"], body.get("wheelchair", 0), types, capped)
    if not reply.bookings:
        raise await refuse_seats(request, show_id, reply.outcome, reply.seats, asked, reply.unpriced)
    return json_response(_bookings_answer(request, show_id, reply.bookings), status=201)


def _bookings_answer(request: web.Request, show_id: int, bookings: tuple[Booking, ...]) -> dict[str, Any]:
    """`{"bookings": [...]}`, with the order they make up and its total (of each seat's price as sold) when the
    show is priced."""
    answer: dict[str, Any] = {"bookings": bookings_json(request, show_id, bookings), "order": bookings[0].order_id}
    prices = request.app[ENGINE].plan(show_id).prices
    if prices is not None:
        answer["total"] = {"amount": sum(b.price or 0 for b in bookings), "currency": prices.currency}
    return answer


@docs(tags=["holds"], summary="Hold seats while the customer pays; they are freed when the hold expires")
@request_schema(schemas.HoldRequest, example={"seat_numbers": [20, 21]})
@response_schema(schemas.HoldCreated, 201, description="Held until expires_at")
@errors(
    401,
    422,
    {
        400: "Invalid body, seat outside 1..total_seats, or a ticket type the show does not sell for those seats",
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
        body = await load_body(request, schemas.HoldRequest)
        seats = tuple(body["seat_numbers"])
        types = schemas.ticket_types_of(body, len(seats))
        engine = request.app[ENGINE]
        reply = await engine.hold(show_id, principal.user_id, seats, types, not principal.is_staff)
        if reply.hold is None:
            raise await refuse_seats(request, show_id, reply.outcome, reply.seats, seats, reply.unpriced)
        hold = reply.hold
        plan = engine.plan(show_id)
        held = []
        for seat, ticket_type in zip(hold.seats, hold.ticket_types, strict=True):
            entry: dict[str, Any] = {"seat_number": seat, "ticket_type": ticket_type}
            if plan.prices is not None:
                entry["price"] = plan.price(seat, ticket_type)
            held.append(entry)
        answer = {
            "hold_id": hold.hold_id,
            "show_id": show_id,
            "seat_numbers": list(hold.seats),
            "expires_at": hold.expires_at.isoformat(),
            "ticket_types": list(hold.ticket_types),
            "seats": held,
        }
        if plan.prices is not None:
            answer["price"] = answer["total"] = {
                "amount": sum(entry["price"]["amount"] for entry in held),
                "currency": plan.prices.currency,
            }
        return json_response(answer, status=201)

    return await idempotent(request, principal.user_id, run)


@docs(
    tags=["holds"],
    summary="Turn a hold into bookings",
    description='No body, or `{"ticket_types": [...]}` (one per held seat) to change the hold\'s ticket types.',
)
@request_schema(schemas.ConfirmRequest, example={"ticket_types": ["adult", "child"]})
@response_schema(schemas.Bookings, 201, description="Booked")
@errors(
    401,
    422,
    {
        400: "Ticket types not one per seat, or one the show does not sell for those seats",
        404: "No such hold, or not yours",
        409: "The hold has expired",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/holds/{hold_id:[0-9a-f]{32}}/confirm/")
async def confirm_hold(request: web.Request) -> web.Response:
    principal = await authenticate(request)

    async def run() -> web.Response:
        types: tuple[str, ...] = ()
        if await read_body(request):
            types = tuple(
                validate_body(await read_json_object(request), schemas.ConfirmRequest).get("ticket_types", ())
            )
        engine = request.app[ENGINE]
        reply = await engine.confirm_hold(request.match_info["hold_id"], principal.user_id, types)
        if reply.outcome in (Outcome.UNKNOWN_TICKET_TYPE, Outcome.TICKET_TYPES_MISMATCH):
            show_id = await request.app[REPOSITORY].show_of_hold(request.match_info["hold_id"])
            raise await refuse_seats(request, show_id or 0, reply.outcome, reply.seats, (), reply.unpriced)
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
