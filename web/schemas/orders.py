"""Order and check-in shapes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from web.schemas.bookings import BookingShow
from web.schemas.catalog import Price, ShowBrief
from web.schemas.common import MAX_ID, NO_NUL, Request


class CheckInRequest(Request):
    code = fields.String(
        required=True, validate=[validate.Length(1, 64), NO_NUL], metadata={"description": "the ticket code"}
    )
    show_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, MAX_ID), metadata={"description": "the door's show"}
    )


class OrderSeat(Schema):
    booking_id = fields.Integer(required=True)
    seat_number = fields.Integer(required=True)
    seat_label = fields.String()
    category = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["booked", "cancelled"]))
    price = fields.Nested(Price)
    ticket = fields.String(metadata={"description": "live seats only"})
    qr = fields.String(metadata={"description": "the ticket's QR code (SVG), live seats only"})
    checked_in_at = fields.DateTime(allow_none=True)


class Order(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["booked", "cancelled", "partly_cancelled"]))
    created_at = fields.DateTime(required=True)
    show = fields.Nested(BookingShow, required=True)
    seats = fields.List(fields.Nested(OrderSeat), required=True)
    total = fields.Nested(Price, metadata={"description": "the live seats' prices; priced shows only"})


class OrderCancelled(Schema):
    detail = fields.String(required=True)
    order_id = fields.Integer(required=True)
    seat_numbers = fields.List(fields.Integer(), required=True)


class Holder(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)


class CheckedIn(Schema):
    detail = fields.String(required=True)
    ticket = fields.String(required=True)
    booking_id = fields.Integer(required=True)
    show = fields.Nested(ShowBrief, required=True)
    seat_number = fields.Integer(required=True)
    seat_label = fields.String()
    holder = fields.Nested(Holder, required=True)
    checked_in_at = fields.DateTime(required=True)
