"""The programme: which shows are on, by the cinema's own calendar (CINEMA_TIMEZONE)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, validate

from web.schemas.catalog import PRICES, Movie
from web.schemas.common import MAX_ID, Request

DAY_OR_TIME = (
    "a day (YYYY-MM-DD, the cinema's local day) or a time (ISO 8601; without an offset it is the cinema's local time)"
)


class ProgrammeQuery(Request):
    """As documented: `from` and `to` are days here; times are accepted too (see ProgrammeFilters)."""

    date = fields.Date(metadata={"description": "one local day of the cinema (CINEMA_TIMEZONE), e.g. 2030-01-31"})
    from_ = fields.Date(data_key="from", metadata={"description": DAY_OR_TIME})
    to = fields.Date(metadata={"description": DAY_OR_TIME + "; a day is included"})
    movie = fields.Integer(validate=validate.Range(1, MAX_ID), metadata={"description": "a movie id"})
    screen = fields.Integer(validate=validate.Range(1, MAX_ID), metadata={"description": "a screen id"})
    page = fields.Integer(metadata={"description": "1-based, as on /movies/ (a page that cannot exist: 404)"})


class ProgrammeFilters(ProgrammeQuery):
    """What the route loads: `from` and `to` as days or times."""

    from_ = fields.String(data_key="from", validate=validate.Length(1, 40))
    to = fields.String(validate=validate.Length(1, 40))


def _instant(text: str, zone: ZoneInfo, end: bool) -> datetime | None:
    """A day's start (or, for `end`, the next day's start: the day is included) or a time, as an aware instant;
    None for the end of the last day a calendar holds."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None and len(text) == 10:
        return _day_start(day, zone, 1 if end else 0)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"Not {DAY_OR_TIME}.") from None
    return _utc(moment if moment.tzinfo is not None else moment.replace(tzinfo=zone))


def _day_start(day: date, zone: ZoneInfo, later: int = 0) -> datetime | None:
    try:
        return _utc(local_day_start(day + timedelta(days=later), zone))
    except OverflowError:
        return None


def _utc(moment: datetime) -> datetime | None:
    """In UTC, or None at the calendar's very edges (year 1 at UTC+14 has no UTC equivalent)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight of `day` in `zone` (a day is 23 or 25 hours long across a DST change; zoneinfo knows which)."""
    return datetime.combine(day, time(0), zone)


def time_window(query: dict[str, Any], zone: ZoneInfo, today: date) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the shows asked for: one local day and/or a range (each narrows the other), or by default
    from today on. An empty window is no error: it lists nothing."""
    errors: dict[str, str] = {}
    starts: list[datetime | None] = []
    ends: list[datetime | None] = []
    if "date" in query:
        starts.append(_day_start(query["date"], zone))
        ends.append(_day_start(query["date"], zone, 1))
    for key, name, end in (("from_", "from", False), ("to", "to", True)):
        if key in query:
            try:
                (ends if end else starts).append(_instant(query[key], zone, end))
            except ValidationError as error:
                errors[name] = str(error.messages[0])
    if errors:
        raise ValidationError(errors)
    if not starts and not ends:
        starts.append(_day_start(today, zone))
    start = max((s for s in starts if s is not None), default=None)
    end = min((e for e in ends if e is not None), default=None)
    return start, end


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
