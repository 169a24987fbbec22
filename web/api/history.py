"""A seat's history (admin): every change of one seat of a show, in order, read from the journal."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs
from marshmallow import Schema, fields

from storage.history import SeatHistory
from web import schemas
from web.context import REPOSITORY
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.security.auth import require_admin

routes = web.RouteTableDef()
MAX_CHANGES = 1000


class SeatChange(Schema):
    seq = fields.Integer(required=True, metadata={"description": "the journal's order"})
    at = fields.DateTime(required=True)
    kind = fields.String(
        required=True,
        metadata={
            "description": "held, released, expired, hold_confirmed, booked, cancelled, blocked, unblocked, checked_in"
        },
    )
    user = fields.Integer(allow_none=True, required=True, metadata={"description": "the customer"})
    username = fields.String(allow_none=True, required=True)
    staff = fields.Integer(allow_none=True, required=True, metadata={"description": "door staff or admin"})
    order = fields.Integer(allow_none=True, required=True)
    booking = fields.Integer(allow_none=True, required=True)
    hold = fields.String(allow_none=True, required=True)
    channel = fields.String(required=True, metadata={"description": "online (every sale today)"})


class SeatHistoryAnswer(Schema):
    show_id = fields.Integer(required=True)
    seat_number = fields.Integer(required=True)
    changes = fields.List(fields.Nested(SeatChange), required=True)


@docs(tags=["reports"], summary="Every change of one seat, in order (admin)")
@docs(
    responses={
        "200": {"description": "The seat's history", "content": {"application/json": {"schema": SeatHistoryAnswer}}}
    }
)
@errors(401, 403, {400: "Seat outside the show", 404: "No such show"})
@routes.get(r"/shows/{id:\d+}/seats/{seat:\d+}/history/")
async def seat_history(request: web.Request) -> web.Response:
    await require_admin(request)
    show_id = schemas.path_id(request)
    seat = schemas.path_id(request, "seat")
    repository = request.app[REPOSITORY]
    show = await repository.show(show_id)
    if show is None:
        raise fail("unknown_show")
    if seat > show.total_seats:
        raise fail(
            "seat_out_of_range",
            f"Seat {seat} is not in this show: its seats are 1 to {show.total_seats}.",
            seats=[seat],
            total_seats=show.total_seats,
        )
    changes = await SeatHistory(repository.database).of_seat(show_id, seat, MAX_CHANGES)
    return json_response(
        {
            "show_id": show_id,
            "seat_number": seat,
            "changes": [
                {
                    "seq": c.seq,
                    "at": c.at.isoformat(),
                    "kind": c.kind,
                    "user": c.user_id,
                    "username": c.username,
                    "staff": c.staff_id,
                    "order": c.order_id,
                    "booking": c.booking_id,
                    "hold": c.hold_id,
                    "channel": "online",
                }
                for c in changes
            ],
        }
    )
