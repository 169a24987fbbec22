"""Request and response shapes: validation of what comes in, and the OpenAPI description of what goes out."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from engine.layout import KINDS
from web import jsonio
from web.errors import CATALOGUE, fail
from web.passwords import MAX_PASSWORD_BYTES
from web.requestbody import read_body

MAX_ID = 2**31 - 1  # ids and seat numbers are 32-bit integers on every backend
MAX_SEATS = 10_000
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="Text must not contain NUL characters.")  # PostgreSQL refuses it
USERNAME = validate.Regexp(r"^[\w.@+-]+\Z", error="Letters, digits and @/./+/-/_ only.")


class Request(Schema):
    class Meta:
        unknown = EXCLUDE  # old clients send extra fields; ignore them as the Django service did


def _bcrypt_sized(password: str) -> None:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"At most {MAX_PASSWORD_BYTES} bytes in UTF-8.")


class SignupRequest(Request):
    username = fields.String(required=True, validate=[validate.Length(1, 150), USERNAME])
    email = fields.Email(required=True, validate=[validate.Length(max=254), NO_NUL])
    password = fields.String(required=True, validate=[validate.Length(min=8), _bcrypt_sized, NO_NUL], load_only=True)


class LoginRequest(Request):
    username = fields.String(required=True, validate=[validate.Length(1, 150), NO_NUL])
    password = fields.String(required=True, validate=[validate.Length(1, 1024), NO_NUL], load_only=True)


class RefreshRequest(Request):
    refresh = fields.String(required=True, validate=[validate.Length(1, 4096), NO_NUL])


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
    label = fields.String(required=True, validate=[validate.Length(1, 8), NO_NUL])
    seats = fields.Integer(required=True, strict=True, validate=validate.Range(1, 500))


CATEGORY = validate.Regexp(r"^[a-z][a-z0-9_-]{0,31}\Z", error="Lower-case letters, digits, - and _ (1-32).")
MAX_PRICE = 10**8  # minor units: a million in a two-decimal currency


class PositionRequest(Request):
    label = fields.String(required=True, validate=[validate.Length(1, 16), NO_NUL])
    category = fields.String(load_default="standard", validate=CATEGORY)
    kind = fields.String(load_default="standard", validate=validate.OneOf(KINDS))


class ScreenRowRequest(Request):
    label = fields.String(required=True, validate=[validate.Length(1, 8), NO_NUL])
    positions = fields.List(
        fields.Nested(PositionRequest, allow_none=True),
        required=True,
        validate=validate.Length(1, 500),
        metadata={"description": "left to right; null is a gap (an aisle)"},
    )


class ScreenRequest(Request):
    """A hall: rows front to back, each a list of seats and gaps. Seats are numbered 1.. in that order."""

    name = fields.String(required=True, validate=[validate.Length(1, 100), NO_NUL])
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


def _prices_and_currency(data: dict[str, Any]) -> None:
    if ("prices" in data) != ("currency" in data):
        raise ValidationError("Give prices and currency together.", "prices")


class MovieRequest(Request):
    title = fields.String(required=True, validate=[validate.Length(1, 200), NO_NUL])
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(1, 24 * 60))


class ShowRequest(Request):
    """On a screen (`screen_id`: its layout, no overlap with its other shows), or the seed's way:
    `screen_name` with `total_seats`, or `rows` (front to back) whose seats add up to it."""

    screen_id = fields.Integer(strict=True, validate=validate.Range(1, MAX_ID))
    rows = fields.List(fields.Nested(RowRequest), validate=validate.Length(1, 100))
    screen_name = fields.String(validate=[validate.Length(1, 100), NO_NUL])
    date_time = fields.AwareDateTime(
        required=True,
        default_timezone=UTC,
        validate=_storable_time,
        metadata={"description": f"naive means UTC; in the future; years {FIRST_YEAR} to {LAST_YEAR} in UTC"},
    )
    total_seats = fields.Integer(strict=True, validate=validate.Range(1, MAX_SEATS))
    prices = fields.Dict(
        keys=fields.String(validate=CATEGORY),
        values=fields.Integer(strict=True, validate=validate.Range(0, MAX_PRICE)),
        validate=validate.Length(1, 32),
        metadata={"description": 'price per seat category in minor units (cents), e.g. {"standard": 1200}'},
    )
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}\Z", error="An ISO 4217 code, e.g. EUR."))

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


class CheckInRequest(Request):
    code = fields.String(
        required=True, validate=[validate.Length(1, 64), NO_NUL], metadata={"description": "the ticket code"}
    )
    show_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, MAX_ID), metadata={"description": "the door's show"}
    )


class EventsQuery(Request):
    since = fields.Integer(validate=validate.Range(0), metadata={"description": "last sequence number seen"})


class PageQuery(Request):
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_ID))


# --- responses (documentation; handlers build the dicts directly to keep the hot path cheap) -------------
class Error(Schema):
    detail = fields.String(required=True)
    code = fields.String(
        required=True,
        validate=validate.OneOf(list(CATALOGUE)),
        metadata={"description": "machine-readable reason; the list with statuses is in this document's description"},
    )
    hint = fields.String(metadata={"description": "for a 404: the same path with or without its trailing slash"})
    total_seats = fields.Integer(metadata={"description": "for seat_out_of_range: the show's seats are 1..total_seats"})
    seats = fields.List(fields.Integer(), metadata={"description": "the seats that were not free"})
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={"description": "per-field messages"})


class User(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)


class TokenPair(Schema):
    access = fields.String(required=True)
    refresh = fields.String(required=True)


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


PRICES = fields.Dict(
    keys=fields.String(), values=fields.Nested(Price), metadata={"description": "per seat category; priced shows only"}
)


class Show(ShowBrief):
    available_seats = fields.Integer(required=True)
    prices = PRICES
    screen_id = fields.Integer(metadata={"description": "shows created on a screen only"})


class CreatedShow(Show):
    movie = fields.Integer(required=True)


class MovieShows(Movie):
    shows = fields.List(fields.Nested(Show), required=True)


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


async def read_json_object(request: web.Request) -> dict[str, Any]:
    body = await read_body(request)
    try:
        data = jsonio.loads(body)
    except jsonio.JSONDecodeError:
        raise fail("invalid_json") from None
    if not isinstance(data, dict):
        raise fail("not_an_object")
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


@functools.cache
def _schema(kind: type[Schema]) -> Schema:
    return kind()  # building a Schema deep-copies its fields: once per kind, not once per request


def validate_body(data: dict[str, Any], kind: type[Schema]) -> dict[str, Any]:
    try:
        loaded = _schema(kind).load(data)
    except ValidationError as error:
        raise fail("invalid_input", errors=error.messages) from None
    if _has_nul(loaded):  # a field that forgot NO_NUL: PostgreSQL would answer 500 for it
        raise fail("nul_character")
    return loaded


async def load_body(request: web.Request, kind: type[Schema]) -> dict[str, Any]:
    """The validated JSON object of the request; 400 with per-field messages when it is not acceptable."""
    return validate_body(await read_json_object(request), kind)


def plain_seat_number(data: dict[str, Any]) -> int | None:
    """The hot path's body, `{"seat_number": n}`: recognised without the schema, which accepts the same."""
    seat = data.get("seat_number")
    if type(seat) is int and -MAX_ID <= seat <= MAX_ID and "seat_numbers" not in data and "count" not in data:
        return seat
    return None


def load_page(request: web.Request) -> int:
    """The 1-based `?page=`; like the Django service, a page that cannot exist is a 404."""
    raw = request.query.get("page")
    page = 1 if raw is None else canonical_int(raw, MAX_ID)
    if page is None or page < 1:
        raise fail("invalid_page")
    return page


def canonical_int(text: str, most: int) -> int | None:
    """`text` as an int in 0..most when it is written the one canonical way (ASCII digits, no sign, no
    leading zero, no spaces or underscores); None otherwise. The length is checked before `int()`, which
    refuses more than 4,300 digits with a ValueError and accepts `١٢`, ` 12` and `1_2`."""
    if not 1 <= len(text) <= len(str(most)) or not text.isascii() or not text.isdigit():
        return None
    if text[0] == "0" and text != "0":
        return None
    value = int(text)
    return value if value <= most else None


def path_id(request: web.Request, name: str = "id") -> int:
    """A positive 32-bit id from the path, spelled canonically; anything else cannot name a row: 404."""
    value = canonical_int(request.match_info[name], MAX_ID)
    if value is None or value < 1:
        raise fail("not_found")
    return value
