"""The door's running count of a show: what the door page shows beside each scan."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from web.schemas.catalog import Movie
from web.schemas.common import MAX_ID, Request


class DoorQuery(Request):
    show_id = fields.Integer(required=True, validate=validate.Range(1, MAX_ID))


class DoorShow(Schema):
    id = fields.Integer(required=True)
    movie = fields.Nested(Movie, required=True)
    screen_name = fields.String(required=True)
    date_time = fields.DateTime(required=True)
    total_seats = fields.Integer(required=True)


class DoorCount(Schema):
    show = fields.Nested(DoorShow, required=True)
    sold = fields.Integer(required=True, metadata={"description": "live tickets (booked seats)"})
    admitted = fields.Integer(required=True, metadata={"description": "tickets scanned in"})
    opens_at = fields.DateTime(required=True, metadata={"description": "when the door opens for scanning"})
    closes_at = fields.DateTime(required=True, metadata={"description": "when it closes (the film's end)"})
