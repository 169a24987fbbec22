"""Shapes every resource shares: ids, pages, the error answer, and the base of every request body."""

from __future__ import annotations

import unicodedata

from aiohttp import web
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from web.http.errors import CATALOGUE, fail

MAX_ID = 2**31 - 1  # ids and seat numbers are 32-bit integers on every backend


MAX_SEATS = 10_000


NO_NUL = validate.Regexp(r"^[^\x00]*$", error="Text must not contain NUL characters.")  # PostgreSQL refuses it


def printable(value: str) -> None:
    """Titles and labels are shown on tickets and kiosks: no control characters (Unicode Cc) and no format
    characters (Cf: bidirectional overrides such as U+202E, zero-width ones such as U+200B), which would make
    what is shown differ from what was typed or hide text."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf"):
            raise ValidationError(
                f"Must not contain control or invisible formatting characters (found U+{ord(char):04X})."
            )


class Request(Schema):
    class Meta:
        unknown = EXCLUDE  # old clients send extra fields; ignore them as the Django service did


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
    clash = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "for schedule_clash: the show in the way (show_id, starts, ends)"},
    )


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
