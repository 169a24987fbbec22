"""Webhook and event-feed shapes."""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields, validate

from storage.outbox import EVENT_TYPES
from web.http.errors import fail
from web.schemas.common import NO_NUL, Request, canonical_int

MAX_FEED_PAGE = 1000


class WebhookRequest(Request):
    url = fields.String(
        required=True,
        validate=[validate.Length(1, 2000), NO_NUL],
        metadata={"description": "http(s); loopback, private and link-local targets are refused"},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(1, len(EVENT_TYPES)),
        metadata={"description": "the event types to send", "uniqueItems": True},
    )
    description = fields.String(load_default="", validate=[validate.Length(0, 500), NO_NUL])


class Webhook(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    description = fields.String(required=True)
    active = fields.Boolean(required=True, metadata={"description": "false once a receiver answered 410"})
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


class WebhookCreated(Webhook):
    secret = fields.String(
        required=True, metadata={"description": "the signing secret: shown this once, keep it with the receiver"}
    )


class WebhookAttempt(Schema):
    event_id = fields.Integer(required=True, metadata={"description": "0 for a test ping"})
    attempt = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    status_code = fields.Integer(allow_none=True, metadata={"description": "the receiver's answer, if any"})
    error = fields.String(allow_none=True, metadata={"description": "why there was no answer"})
    duration_ms = fields.Float(required=True)


class WebhookTested(Schema):
    delivered = fields.Boolean(required=True)
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Float(required=True)


class FeedQuery(Request):
    after = fields.Integer(load_default=0, validate=validate.Range(0, 2**63 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_FEED_PAGE))


class DeliveriesQuery(Request):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_FEED_PAGE))


class Event(Schema):
    id = fields.Integer(required=True)
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    created_at = fields.DateTime(required=True)
    data = fields.Dict(required=True, metadata={"description": "the resource as the API shows it, with its show"})


class EventPage(Schema):
    events = fields.List(fields.Nested(Event), required=True)
    next_after = fields.Integer(required=True, metadata={"description": "pass as `after` for the next page"})


def query_int(request: web.Request, name: str, default: int, least: int, most: int) -> int:
    """`?name=` as a canonical whole number in least..most; 400 invalid_query otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return default
    value = canonical_int(raw, most)
    if value is None or value < least:
        raise fail("invalid_query", f"{name} must be a whole number from {least} to {most}.")
    return value
