"""Order and check-in shapes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from web.schemas.bookings import SEAT, BookingShow, _distinct, ticket_type_list
from web.schemas.catalog import Price, ShowBrief
from web.schemas.common import MAX_ID, MAX_SEATS, NO_NUL, PageQuery, Request

PAYMENTS = ("cash", "card", "complimentary")
CHANNELS = ("counter", "online")


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
    ticket_type = fields.String(required=True, metadata={"description": "adult unless another type was sold"})
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
    total = fields.Nested(Price, metadata={"description": "the live seats' prices as sold; priced shows only"})
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    sold_by = fields.Nested(lambda: Holder(), allow_none=True, metadata={"description": "counter orders: the staff"})
    payment = fields.String(allow_none=True, validate=validate.OneOf(PAYMENTS), metadata={"description": "counter"})
    customer = fields.Nested(lambda: CustomerShape(), allow_none=True, metadata={"description": "counter, if given"})
    refunds = fields.List(fields.Nested(lambda: RefundShape()), required=True)


class CustomerShape(Schema):
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)


class RefundShape(Schema):
    seat_numbers = fields.List(fields.Integer(), required=True)
    amount = fields.Nested(Price, required=True, metadata={"description": "paid back (currency null: no prices)"})
    method = fields.String(required=True, validate=validate.OneOf(PAYMENTS))
    refunded_by = fields.Integer(required=True, metadata={"description": "the staff user"})
    at = fields.DateTime(required=True)


class OrderPage(Schema):
    count = fields.Integer(required=True)
    next = fields.String(required=True, allow_none=True)
    previous = fields.String(required=True, allow_none=True)
    results = fields.List(fields.Nested(Order), required=True)


class Customer(Request):
    """A walk-in: no account is made; the name and e-mail are kept on the order."""

    name = fields.String(validate=[validate.Length(1, 200), NO_NUL])
    email = fields.Email(validate=validate.Length(1, 254))


class SellRequest(Request):
    """A counter sale: `seat_numbers`, or the best `count` seats (several rows for a large group)."""

    seat_numbers = fields.List(
        SEAT, validate=[validate.Length(1, MAX_SEATS), _distinct], metadata={"uniqueItems": True}
    )
    count = fields.Integer(strict=True, validate=validate.Range(1, MAX_SEATS))
    ticket_types = ticket_type_list(MAX_SEATS)
    payment = fields.String(required=True, validate=validate.OneOf(PAYMENTS))
    customer = fields.Nested(Customer)

    @validates_schema
    def _seats_or_count(self, data: dict[str, Any], **_: Any) -> None:
        if ("seat_numbers" in data) == ("count" in data):
            raise ValidationError("Give exactly one of seat_numbers or count.", "_schema")


class RefundRequest(Request):
    method = fields.String(
        validate=validate.OneOf(PAYMENTS),
        metadata={"description": "how the money goes back; default: the counter sale's payment, or card online"},
    )


class OrdersQuery(PageQuery):
    show = fields.Integer(validate=validate.Range(1, MAX_ID), metadata={"description": "one show's orders"})
    channel = fields.String(validate=validate.OneOf(CHANNELS))


class Refunded(Schema):
    detail = fields.String(required=True)
    order_id = fields.Integer(required=True)
    seat_numbers = fields.List(fields.Integer(), required=True)
    refund = fields.Nested(RefundShape, required=True)
    order = fields.Nested(Order, required=True)


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
    ticket_type = fields.String(required=True, metadata={"description": "adult unless another type was sold"})
    holder = fields.Nested(Holder, required=True)
    checked_in_at = fields.DateTime(required=True)
