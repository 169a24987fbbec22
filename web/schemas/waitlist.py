"""Waiting-list shapes: joining a sold-out show's list, and one's entries with their offers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from web.schemas.bookings import MAX_SEATS_PER_REQUEST
from web.schemas.catalog import Price, ShowBrief
from web.schemas.common import Request

__all__ = ["MyWaitlistEntry", "WaitlistJoined", "WaitlistLeft", "WaitlistOffer", "WaitlistRequest"]


class WaitlistRequest(Request):
    party_size = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, MAX_SEATS_PER_REQUEST),
        metadata={
            "description": "seats wanted: at most the per-customer cap (CINEMA_MAX_SEATS_PER_USER), counting seats "
            "you hold or booked in the show (else 409 seat_limit)"
        },
    )
    together = fields.Boolean(
        load_default=True,
        metadata={"description": "only adjacent seats in one row (the default); false takes any seats"},
    )


class WaitlistJoined(Schema):
    entry_id = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "1 for the front of the list"})
    show_id = fields.Integer(required=True)
    party_size = fields.Integer(required=True)
    together = fields.Boolean(required=True)


class WaitlistOffer(Schema):
    hold_id = fields.String(required=True, metadata={"description": "confirm with POST /holds/{hold_id}/confirm/"})
    seats = fields.List(fields.Integer(), required=True)
    expires_at = fields.DateTime(required=True)
    price = fields.Nested(Price, metadata={"description": "the seats' total; priced shows only"})


class MyWaitlistEntry(Schema):
    entry_id = fields.String(required=True)
    show = fields.Nested(ShowBrief, required=True)
    party_size = fields.Integer(required=True)
    together = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["waiting", "offered"]))
    position = fields.Integer(required=True, metadata={"description": "1 for the front of the show's list"})
    created_at = fields.DateTime(required=True)
    offer = fields.Nested(WaitlistOffer, allow_none=True, required=True)


class WaitlistLeft(Schema):
    detail = fields.String(required=True)
    entry_id = fields.String(required=True)
