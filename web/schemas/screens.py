"""Screen and seat-layout shapes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from engine.layout import KINDS
from web.schemas.catalog import CATEGORY
from web.schemas.common import MAX_SEATS, NO_NUL, Request, printable


class PositionRequest(Request):
    label = fields.String(required=True, validate=[validate.Length(1, 16), NO_NUL, printable])
    category = fields.String(load_default="standard", validate=CATEGORY)
    kind = fields.String(load_default="standard", validate=validate.OneOf(KINDS))


class ScreenRowRequest(Request):
    label = fields.String(required=True, validate=[validate.Length(1, 8), NO_NUL, printable])
    positions = fields.List(
        fields.Nested(PositionRequest, allow_none=True),
        required=True,
        validate=validate.Length(1, 500),
        metadata={"description": "left to right; null is a gap (an aisle)"},
    )


class ScreenRequest(Request):
    """A hall: rows front to back, each a list of seats and gaps. Seats are numbered 1.. in that order."""

    name = fields.String(required=True, validate=[validate.Length(1, 100), NO_NUL, printable])
    rows = fields.List(fields.Nested(ScreenRowRequest), required=True, validate=validate.Length(1, 100))

    @validates_schema
    def _sensible(self, data: dict[str, Any], **_: Any) -> None:
        rows = data.get("rows") or []
        if len({row["label"] for row in rows}) != len(rows):
            raise ValidationError("Row labels must differ.", "rows")
        seats = [p for row in rows for p in row["positions"] if p is not None]
        if not 1 <= len(seats) <= MAX_SEATS:
            raise ValidationError("A screen has 1 to 10,000 seats.", "rows")
        if len({p["label"] for p in seats}) != len(seats):
            raise ValidationError("Seat labels must differ.", "rows")
        for row in rows:
            positions = row["positions"]
            for i, place in enumerate(positions):
                if place is None or place["kind"] != "companion":
                    continue
                beside = [positions[j] for j in (i - 1, i + 1) if 0 <= j < len(positions)]
                if not any(p is not None and p["kind"] == "wheelchair" for p in beside):
                    raise ValidationError(
                        f"Companion seat {place['label']} needs a wheelchair space right beside it.", "rows"
                    )


class Position(Schema):
    seat = fields.Integer(required=True, metadata={"description": "the seat number (1..total_seats)"})
    label = fields.String(required=True)
    category = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))


class RowLayout(Schema):
    label = fields.String(required=True)
    first_seat = fields.Integer(required=True)
    seats = fields.Integer(required=True)
    positions = fields.List(
        fields.Nested(Position, allow_none=True),
        metadata={"description": "shows on a screen: left to right, null is a gap (an aisle)"},
    )


class ScreenCreated(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    total_seats = fields.Integer(required=True)
    rows = fields.List(fields.Nested(RowLayout), required=True)


class ScreenList(Schema):
    results = fields.List(fields.Nested(ScreenCreated), required=True)
