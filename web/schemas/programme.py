"""The programme: which shows are on, by the cinema's own calendar (CINEMA_TIMEZONE)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from web.schemas.catalog import PRICES, Movie
from web.schemas.common import MAX_ID, Request

DAY_OR_TIME = (
    "a day (YYYY-MM-DD, the cinema's local day) or a time (ISO 8601; without an offset it is the cinema's local time)"
)
MAX_SPAN_DAYS = 366


class ProgrammeQuery(Request):
    date = fields.Date(metadata={"description": "one local day of the cinema (CINEMA_TIMEZONE), e.g. 2030-01-31"})
    from_ = fields.String(data_key="from", validate=validate.Length(1, 40), metadata={"description": DAY_OR_TIME})
    to = fields.String(validate=validate.Length(1, 40), metadata={"description": DAY_OR_TIME + "; a day is included"})
    movie = fields.Integer(validate=validate.Range(1, MAX_ID), metadata={"description": "a movie id"})
    screen = fields.Integer(validate=validate.Range(1, MAX_ID), metadata={"description": "a screen id"})
    page = fields.Integer(metadata={"description": "1-based, as on /movies/ (a page that cannot exist: 404)"})

    @validates_schema
    def _one_way(self, data: dict[str, Any], **_: Any) -> None:
        if "date" in data and ("from_" in data or "to" in data):
            raise ValidationError("Give either date, or from and/or to.", "date")


def _instant(text: str, zone: ZoneInfo, end: bool) -> datetime:
    """A day's start (or, for `end`, the next day's start: the day is included) or a time, as an aware instant."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None and len(text) == 10:
        return local_day_start(day + timedelta(days=1) if end else day, zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"Not {DAY_OR_TIME}.") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight of `day` in `zone` (a day is 23 or 25 hours long across a DST change; zoneinfo knows which)."""
    return datetime.combine(day, time(0), zone)


def time_window(query: dict[str, Any], zone: ZoneInfo, today: date) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the shows asked for: one local day, a range, or (by default) from today on."""
    if "date" in query:
        day = query["date"]
        return local_day_start(day, zone), local_day_start(day + timedelta(days=1), zone)
    errors: dict[str, str] = {}
    starts = ends = None
    for key, name, end in (("from_", "from", False), ("to", "to", True)):
        if key in query:
            try:
                moment = _instant(query[key], zone, end)
            except ValidationError as error:
                errors[name] = str(error.messages[0])
                continue
            if end:
                ends = moment
            else:
                starts = moment
    if errors:
        raise ValidationError(errors)
    if starts is None and ends is None:
        starts = local_day_start(today, zone)
    if starts is not None and ends is not None:
        if ends <= starts:
            raise ValidationError({"to": "to must be after from."})
        if ends - starts > timedelta(days=MAX_SPAN_DAYS):
            raise ValidationError({"to": f"At most {MAX_SPAN_DAYS} days at once."})
    return starts, ends


class ProgrammeShow(Schema):
    id = fields.Integer(required=True)
    movie = fields.Nested(Movie, required=True)
    screen_name = fields.String(required=True)
    screen_id = fields.Integer(allow_none=True, required=True)
    date_time = fields.DateTime(required=True, metadata={"description": "the start, in UTC"})
    local_time = fields.String(required=True, metadata={"description": "the start in the cinema's time zone"})
    local_date = fields.Date(required=True, metadata={"description": "the cinema's local day of the start"})
    ends_at = fields.DateTime(allow_none=True, required=True)
    total_seats = fields.Integer(required=True)
    available_seats = fields.Integer(required=True)
    prices = PRICES


class ProgrammePage(Schema):
    count = fields.Integer(required=True)
    next = fields.String(required=True, allow_none=True)
    previous = fields.String(required=True, allow_none=True)
    timezone = fields.String(required=True, metadata={"description": "CINEMA_TIMEZONE"})
    results = fields.List(fields.Nested(ProgrammeShow), required=True)
