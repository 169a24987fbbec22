"""Booking, cancelling and listing one's bookings. Book and cancel go to the show's actor, never to SQL."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from engine.seats import Outcome
from web import schemas
from web.auth import authenticate
from web.catalog import show_brief
from web.context import ENGINE, REPOSITORY
from web.errors import ApiError
from web.jsonio import json_response

routes = web.RouteTableDef()

REFUSALS: dict[Outcome, tuple[int, str]] = {
    Outcome.SEAT_TAKEN: (409, "Seat {seat} is already booked."),
    Outcome.SOLD_OUT: (409, "The show is sold out."),
    Outcome.SEAT_OUT_OF_RANGE: (400, "Seat number must be between 1 and the show's total seats."),
    Outcome.UNKNOWN_BOOKING: (404, "Booking not found."),
    Outcome.NOT_OWNER: (404, "Booking not found."),  # someone else's booking is not revealed
    Outcome.ALREADY_CANCELLED: (409, "Booking is already cancelled."),
}


def refuse(outcome: Outcome, seat: int | None = None) -> ApiError:
    status, detail = REFUSALS[outcome]
    return ApiError(status, detail.format(seat=seat), code=outcome.value)


@docs(tags=["bookings"], summary="Book a seat")
@request_schema(schemas.BookRequest)
@response_schema(schemas.Booking, 201, description="Booked; durable before this answer")
@response_schema(schemas.Error, 400, description="Invalid body or seat outside 1..total_seats")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 404, description="No such show")
@response_schema(schemas.Error, 409, description="Seat taken, or show sold out")
@routes.post(r"/shows/{id:\d+}/book/")
async def book(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    show_id = schemas.path_id(request)
    seat = await schemas.load_seat_number(request)
    reply = await request.app[ENGINE].book(show_id, principal.user_id, seat)
    booking = reply.booking
    if booking is None:
        raise refuse(reply.outcome, seat)
    return json_response(
        {
            "id": booking.id,
            "user": booking.user_id,
            "show": show_brief(booking.show),
            "seat_number": booking.seat_number,
            "status": booking.status,
            "created_at": booking.created_at.isoformat(),
        },
        status=201,
    )


@docs(tags=["bookings"], summary="Cancel one of your bookings; the seat is free at once")
@response_schema(schemas.Cancelled, 200, description="Cancelled")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 404, description="No such booking, or not yours")
@response_schema(schemas.Error, 409, description="Already cancelled")
@routes.post(r"/bookings/{id:\d+}/cancel/")
async def cancel(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    reply = await request.app[ENGINE].cancel(schemas.path_id(request), principal.user_id)
    if reply.outcome is not Outcome.CANCELLED:
        raise refuse(reply.outcome)
    return json_response({"detail": "Booking cancelled.", "booking_id": reply.booking_id})


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
