"""The programme (shows by day, one show with its film) and the door's running count: what the kiosk and the
door pages read to say which film, when, where, and how many are in."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, fields, validate

from storage.repository import ProgrammeEntry
from web.schemas.catalog import Movie, _storable_time
from web.schemas.common import MAX_ID, Request


class ProgrammeQuery(Request):
    starts_from = fields.AwareDateTime(
        data_key="from",
        default_timezone=UTC,
        validate=_storable_time,
        metadata={"description": "shows starting at or after this time (naive: UTC); default: today 00:00 UTC"},
    )
    starts_before = fields.AwareDateTime(
        data_key="to",
        default_timezone=UTC,
        validate=_storable_time,
        metadata={"description": "and before this time; default: a day after `from`; at most 8 days after it"},
    )


class ProgrammeShow(Schema):
    id = fields.Integer(required=True)
    movie = fields.Nested(Movie, required=True)
    screen_name = fields.String(required=True)
    screen_id = fields.Integer(allow_none=True)
    date_time = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True, metadata={"description": "the start plus the film's duration"})
    total_seats = fields.Integer(required=True)
    available_seats = fields.Integer(required=True)


class Programme(Schema):
    starts_from = fields.DateTime(required=True, data_key="from")
    starts_before = fields.DateTime(required=True, data_key="to")
    shows = fields.List(fields.Nested(ProgrammeShow), required=True)


class DoorQuery(Request):
    show_id = fields.Integer(required=True, validate=validate.Range(1, MAX_ID))


class DoorCount(Schema):
    show = fields.Nested(ProgrammeShow, required=True)
    sold = fields.Integer(required=True, metadata={"description": "live tickets (booked seats)"})
    admitted = fields.Integer(required=True, metadata={"description": "tickets scanned in"})
    opens_at = fields.DateTime(required=True, metadata={"description": "when the door opens for scanning"})
    closes_at = fields.DateTime(required=True, metadata={"description": "when it closes (the film's end)"})


def programme_entry(entry: ProgrammeEntry, free: int | None) -> dict[str, Any]:
    """One show as the programme lists it (ProgrammeShow); `free`: the show actor's count of free seats when it
    is in memory (as the seat map counts them), else the database's."""
    show = entry.show
    return {
        "id": show.id,
        "movie": {"id": entry.movie.id, "title": entry.movie.title, "duration_minutes": entry.movie.duration_minutes},
        "screen_name": show.screen_name,
        "screen_id": entry.screen_id,
        "date_time": show.date_time.isoformat(),
        "ends_at": entry.ends_at.astimezone(UTC).isoformat(),
        "total_seats": show.total_seats,
        "available_seats": max(0, show.total_seats - entry.taken) if free is None else free,
    }
