"""Request and response shapes: validation of what comes in, and the OpenAPI description of what goes out."""

from __future__ import annotations

import functools
from datetime import UTC
from typing import Any

from aiohttp import web
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from web import jsonio
from web.errors import ApiError
from web.passwords import MAX_PASSWORD_BYTES

MAX_ID = 2**31 - 1  # ids and seat numbers are 32-bit integers on every backend
MAX_SEATS = 10_000
USERNAME = validate.Regexp(r"^[\w.@+-]+\Z", error="Letters, digits and @/./+/-/_ only.")


class Request(Schema):
    class Meta:
        unknown = EXCLUDE  # old clients send extra fields; ignore them as the Django service did


def _bcrypt_sized(password: str) -> None:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"At most {MAX_PASSWORD_BYTES} bytes in UTF-8.")


class SignupRequest(Request):
    username = fields.String(required=True, validate=[validate.Length(1, 150), USERNAME])
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=[validate.Length(min=8), _bcrypt_sized], load_only=True)


class LoginRequest(Request):
    username = fields.String(required=True, validate=validate.Length(1, 150))
    password = fields.String(required=True, validate=validate.Length(1, 1024), load_only=True)


class RefreshRequest(Request):
    refresh = fields.String(required=True, validate=validate.Length(1, 4096))


class BookRequest(Request):
    seat_number = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_ID))


class MovieRequest(Request):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(1, 24 * 60))


class ShowRequest(Request):
    screen_name = fields.String(required=True, validate=validate.Length(1, 100))
    date_time = fields.AwareDateTime(required=True, default_timezone=UTC, metadata={"description": "naive means UTC"})
    total_seats = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_SEATS))


class EventsQuery(Request):
    since = fields.Integer(validate=validate.Range(0), metadata={"description": "last sequence number seen"})


class PageQuery(Request):
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_ID))


# --- responses (documentation; handlers build the dicts directly to keep the hot path cheap) -------------
class Error(Schema):
    detail = fields.String(required=True)
    code = fields.String(metadata={"description": "machine-readable reason, e.g. seat_taken, sold_out"})
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


class Show(ShowBrief):
    available_seats = fields.Integer(required=True)


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


async def read_json_object(request: web.Request) -> dict[str, Any]:
    body = await request.read()  # over client_max_size: 413, rendered by the error middleware
    try:
        data = jsonio.loads(body)
    except jsonio.JSONDecodeError:
        raise ApiError(400, "The request body must be valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data


@functools.cache
def _schema(kind: type[Schema]) -> Schema:
    return kind()  # building a Schema deep-copies its fields: once per kind, not once per request


def validate_body(data: dict[str, Any], kind: type[Schema]) -> dict[str, Any]:
    try:
        return _schema(kind).load(data)
    except ValidationError as error:
        raise ApiError(400, "Invalid input.", errors=error.messages) from None


async def load_body(request: web.Request, kind: type[Schema]) -> dict[str, Any]:
    """The validated JSON object of the request; 400 with per-field messages when it is not acceptable."""
    return validate_body(await read_json_object(request), kind)


async def load_seat_number(request: web.Request) -> int:
    """The hot path's body: the plain case skips the schema, which accepts exactly the same values."""
    data = await read_json_object(request)
    seat = data.get("seat_number")
    if type(seat) is int and 1 <= seat <= MAX_ID:
        return seat
    return validate_body(data, BookRequest)["seat_number"]


def load_page(request: web.Request) -> int:
    """The 1-based `?page=`; like the Django service, a page that cannot exist is a 404."""
    try:
        return _schema(PageQuery).load(dict(request.query))["page"]
    except ValidationError:
        raise ApiError(404, "Invalid page.") from None


def path_id(request: web.Request, name: str = "id") -> int:
    """A positive 32-bit id from the path; anything else cannot name a row, so it is a 404."""
    value = int(request.match_info[name])  # the route pattern admits digits only
    if not 1 <= value <= MAX_ID:
        raise ApiError(404, "Not found.")
    return value
