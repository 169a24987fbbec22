"""Booking, hold and seat-map shapes: what a customer sends to take seats and what comes back."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from web.schemas.catalog import PRICES, Movie, Price, ShowBrief
from web.schemas.common import MAX_ID, MAX_SEATS, Request
from web.schemas.screens import RowLayout

MAX_SEATS_PER_REQUEST = 10  # a family, not a block booking


# Any 32-bit seat number passes the schema; the show decides which exist, so that seat 0 and seat 101 of 100
# get one answer (`seat_out_of_range`, naming the show's seats).
SEAT_RANGE = validate.Range(-MAX_ID, MAX_ID)


SEAT = fields.Integer(strict=True, validate=SEAT_RANGE)


def _distinct(seats: list[int]) -> None:
    if len(set(seats)) != len(seats):
        raise ValidationError("Each seat may be named once.")


def seat_list(most: int) -> fields.List:
    return fields.List(
        SEAT, required=True, validate=[validate.Length(1, most), _distinct], metadata={"uniqueItems": True}
    )


class BookRequest(Request):
    """One of: the seed's `seat_number`, several `seat_numbers` (all or none), or `count` best adjacent seats."""

    seat_number = fields.Integer(strict=True, validate=SEAT_RANGE)
    seat_numbers = fields.List(
        SEAT, validate=[validate.Length(1, MAX_SEATS_PER_REQUEST), _distinct], metadata={"uniqueItems": True}
    )
    count = fields.Integer(strict=True, validate=validate.Range(1, MAX_SEATS_PER_REQUEST))
    wheelchair = fields.Integer(
        strict=True,
        validate=validate.Range(0, MAX_SEATS_PER_REQUEST),
        metadata={"description": "with count: how many of the seats must be wheelchair spaces"},
    )

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if sum(name in data for name in ("seat_number", "seat_numbers", "count")) != 1:
            raise ValidationError("Give exactly one of seat_number, seat_numbers or count.", "_schema")
        if "wheelchair" in data and data["wheelchair"] > data.get("count", -1):
            raise ValidationError("wheelchair goes with count, and at most count.", "wheelchair")


class HoldRequest(Request):
    seat_numbers = seat_list(MAX_SEATS_PER_REQUEST)


class BlockRequest(Request):
    seat_numbers = seat_list(MAX_SEATS)


class EventsQuery(Request):
    since = fields.Integer(validate=validate.Range(0), metadata={"description": "last sequence number seen"})


class Booking(Schema):
    id = fields.Integer(required=True)
    user = fields.Integer(required=True, metadata={"description": "the booking user's id"})
    show = fields.Nested(ShowBrief, required=True)
    seat_number = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["booked", "cancelled"]))
    created_at = fields.DateTime(required=True)
    order = fields.Integer(metadata={"description": "the order this booking belongs to"})
    ticket = fields.String(metadata={"description": "the ticket code scanned at the door"})
    seat_label = fields.String(metadata={"description": "shows with a layout only"})
    price = fields.Nested(Price, metadata={"description": "priced shows only"})


class Cancelled(Schema):
    detail = fields.String(required=True)
    booking_id = fields.Integer(required=True)


class BookingShow(ShowBrief):
    movie = fields.Nested(Movie, required=True)


class MyBooking(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["booked", "cancelled"]))
    seat_number = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    show = fields.Nested(BookingShow, required=True)


class SeatMap(Schema):
    type = fields.String(required=True, metadata={"description": "always 'snapshot'"})
    show_id = fields.Integer(required=True)
    seq = fields.Integer(required=True, metadata={"description": "sequence number of the last change included"})
    total_seats = fields.Integer(required=True)
    booked = fields.List(fields.Integer(), required=True)
    held = fields.List(fields.Integer(), required=True)
    blocked = fields.List(fields.Integer(), required=True)
    rows = fields.List(fields.Nested(RowLayout), allow_none=True, metadata={"description": "the layout, if any"})
    prices = PRICES
    max_seats_per_user = fields.Integer(
        metadata={"description": "the most seats one customer may hold and book in a show (0: no limit)"}
    )


class Bookings(Schema):
    bookings = fields.List(fields.Nested(Booking), required=True)
    order = fields.Integer(metadata={"description": "the order the bookings make up (GET /orders/{id}/)"})
    total = fields.Nested(Price, metadata={"description": "priced shows only"})


class HoldCreated(Schema):
    hold_id = fields.String(required=True)
    show_id = fields.Integer(required=True)
    seat_numbers = fields.List(fields.Integer(), required=True)
    expires_at = fields.DateTime(required=True)
    price = fields.Nested(Price, metadata={"description": "the seats' total; priced shows only"})


class HoldReleased(Schema):
    detail = fields.String(required=True)
    hold_id = fields.String(required=True)


def plain_seat_number(data: dict[str, Any]) -> int | None:
    """The hot path's body, `{"seat_number": n}`: recognised without the schema, which accepts the same."""
    seat = data.get("seat_number")
    if type(seat) is int and -MAX_ID <= seat <= MAX_ID and "seat_numbers" not in data and "count" not in data:
        return seat
    return None
