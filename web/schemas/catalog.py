"""Movie and show shapes: the catalogue as it is listed, created and summarised."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pycountry
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from engine.ports import ShowInfo
from web.schemas.common import MAX_ID, MAX_SEATS, NO_NUL, Request, printable

FIRST_YEAR, LAST_YEAR = 1900, 9998  # PostgreSQL and Python both hold these, whatever the offset


def _storable_time(value: datetime) -> None:
    """`0001-01-01T00:00:00+14:00` is valid ISO 8601 but has no UTC equivalent; it once answered 500."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationError(f"The time must fall in the years {FIRST_YEAR} to {LAST_YEAR} (UTC).")


class RowRequest(Request):
    label = fields.String(required=True, validate=[validate.Length(1, 8), NO_NUL, printable])
    seats = fields.Integer(required=True, strict=True, validate=validate.Range(1, 500))


CATEGORY = validate.Regexp(r"^[a-z][a-z0-9_-]{0,31}\Z", error="Lower-case letters, digits, - and _ (1-32).")


# ISO 4217 as pycountry ships it (Debian's iso-codes, kept current), less the codes that are not money.
NOT_MONEY = frozenset({"XXX", "XTS", "XAU", "XAG", "XPD", "XPT"})
CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies) - NOT_MONEY
MAX_PRICE = 10**8  # minor units: a million in a two-decimal currency
MAX_TICKET_TYPES = 16
TICKET_TYPE_NAME = r"^[a-z][a-z0-9_-]{0,31}\Z"


class CategoryPrice(fields.Field):
    """A category's price: a plain number (minor units; one ticket type, adult) or a price per ticket type, e.g.
    {"adult": 1200, "child": 800, "senior": 900}. Every set of types prices adult, the default type."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if type(value) is int:
            if not 0 <= value <= MAX_PRICE:
                raise ValidationError(f"A price is 0 to {MAX_PRICE} minor units.")
            return value
        if not isinstance(value, dict) or not 1 <= len(value) <= MAX_TICKET_TYPES:
            raise ValidationError(
                'A price in minor units, or up to 16 prices per ticket type, e.g. {"adult": 1200, "child": 800}.'
            )
        for name, amount in value.items():
            if not isinstance(name, str) or not re.match(TICKET_TYPE_NAME, name):
                raise ValidationError(f"Ticket type {str(name)[:40]!r}: lower-case letters, digits, - and _ (1-32).")
            if type(amount) is not int or not 0 <= amount <= MAX_PRICE:
                raise ValidationError(f"The price of {name!r} must be 0 to {MAX_PRICE} minor units.")
        if "adult" not in value:
            raise ValidationError("Price the adult ticket too: it is the type sold when none is named.")
        return dict(value)


def _prices_and_currency(data: dict[str, Any]) -> None:
    if ("prices" in data) != ("currency" in data):
        raise ValidationError("Give prices and currency together.", "prices")


class MovieRequest(Request):
    title = fields.String(required=True, validate=[validate.Length(1, 200), NO_NUL, printable])
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(1, 24 * 60))


class ShowRequest(Request):
    """On a screen (`screen_id`: its layout, no overlap with its other shows), or the seed's way:
    `screen_name` with `total_seats`, or `rows` (front to back) whose seats add up to it."""

    screen_id = fields.Integer(strict=True, validate=validate.Range(1, MAX_ID))
    rows = fields.List(fields.Nested(RowRequest), validate=validate.Length(1, 100))
    screen_name = fields.String(validate=[validate.Length(1, 100), NO_NUL, printable])
    date_time = fields.AwareDateTime(
        required=True,
        default_timezone=UTC,
        validate=_storable_time,
        metadata={"description": f"naive means UTC; in the future; years {FIRST_YEAR} to {LAST_YEAR} in UTC"},
    )
    total_seats = fields.Integer(strict=True, validate=validate.Range(1, MAX_SEATS))
    prices = fields.Dict(
        keys=fields.String(validate=CATEGORY),
        values=CategoryPrice(),
        validate=validate.Length(1, 32),
        metadata={
            "description": 'price per seat category in minor units (cents), e.g. {"standard": 1200}, or per ticket '
            'type: {"standard": {"adult": 1200, "child": 800}, "premium": {"adult": 1600}}'
        },
    )
    currency = fields.String(
        validate=[
            validate.Regexp(r"^[A-Z]{3}\Z", error="An ISO 4217 code, e.g. EUR."),
            validate.OneOf(CURRENCIES, error="Not an ISO 4217 currency code (e.g. EUR, USD, GBP)."),
        ]
    )

    @validates_schema
    def _seats_agree(self, data: dict[str, Any], **_: Any) -> None:
        _prices_and_currency(data)
        if data["date_time"] <= datetime.now(UTC):
            raise ValidationError("A show cannot be scheduled in the past.", "date_time")
        if "screen_id" in data:
            if any(name in data for name in ("rows", "total_seats", "screen_name")):
                raise ValidationError("A show on a screen takes the screen's name and layout.", "screen_id")
            return
        if "screen_name" not in data:
            raise ValidationError("Missing data for required field.", "screen_name")
        rows = data.get("rows")
        if rows is None:
            if "total_seats" not in data:
                raise ValidationError("Missing data for required field.", "total_seats")
            return
        total = sum(row["seats"] for row in rows)
        if total > MAX_SEATS or data.get("total_seats", total) != total:
            raise ValidationError("The rows' seats must add up to total_seats (at most 10,000).", "rows")
        if len({row["label"] for row in rows}) != len(rows):
            raise ValidationError("Row labels must differ.", "rows")
        data["total_seats"] = total


class Movie(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    duration_minutes = fields.Integer(required=True)


class MoviePage(Schema):
    count = fields.Integer(required=True)
    next = fields.String(required=True, allow_none=True)
    previous = fields.String(required=True, allow_none=True)
    results = fields.List(fields.Nested(Movie), required=True)


class ShowBrief(Schema):
    id = fields.Integer(required=True)
    screen_name = fields.String(required=True)
    date_time = fields.DateTime(required=True)
    total_seats = fields.Integer(required=True)


class Price(Schema):
    amount = fields.Integer(required=True, metadata={"description": "minor units, e.g. cents"})
    currency = fields.String(required=True, metadata={"description": "ISO 4217"})


class CategoryPrices(Price):
    types = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(Price),
        metadata={"description": "per ticket type, when the category has several (amount is the adult price)"},
    )


PRICES = fields.Dict(
    keys=fields.String(),
    values=fields.Nested(CategoryPrices),
    metadata={"description": "per seat category; priced shows only"},
)


class Show(ShowBrief):
    available_seats = fields.Integer(required=True)
    prices = PRICES
    screen_id = fields.Integer(metadata={"description": "shows created on a screen only"})


class CreatedShow(Show):
    movie = fields.Integer(required=True)


class MovieShows(Movie):
    shows = fields.List(fields.Nested(Show), required=True)


@functools.lru_cache(maxsize=10_000)
def show_brief(show: ShowInfo) -> dict[str, Any]:
    """Shared between responses (never mutated): every booking of a show repeats the same object."""
    return {
        "id": show.id,
        "screen_name": show.screen_name,
        "date_time": show.date_time.isoformat(),
        "total_seats": show.total_seats,
    }


@functools.lru_cache(maxsize=10_000)
def show_brief_json(show: ShowInfo) -> orjson.Fragment:
    """show_brief encoded once per show: a booking answer embeds it instead of encoding it again each time."""
    return orjson.Fragment(orjson.dumps(show_brief(show)))
