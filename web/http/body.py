"""Reading a request body as a hostile client may send it: wrong type, slow, or falsely compressed.

Every route that reads a body comes through `read_body`, so routes added later get the same checks. aiohttp's
own decompression is off (see `create_app`): it answered a bad gzip body with a 500 and `br` with plain text;
here gzip and deflate are decoded with a bound on the decoded size, and anything else is a JSON 415.
"""

from __future__ import annotations

import asyncio
import functools
import zlib
from typing import Any

from aiohttp import web
from marshmallow import Schema, ValidationError

from web.context import SETTINGS
from web.http import jsonio
from web.http.errors import ApiError, fail

JSON = "application/json"
DECODERS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


async def read_body(request: web.Request) -> bytes:
    """The decoded body; 415 unless it is JSON, 408 when it does not arrive in time, 413 when too large."""
    if request.body_exists and request.content_type != JSON:
        raise fail("unsupported_media_type")
    if request.content.is_eof():  # the usual small body came with the headers: no timer needed
        body = await request.read()
    else:
        try:
            async with asyncio.timeout(request.app[SETTINGS].body_timeout_seconds):
                body = await request.read()  # over client_max_size: 413, rendered by the error middleware
        except TimeoutError:
            raise await _answered_and_closed(request, fail("body_timeout")) from None
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "identity" or not body:
        return body
    if encoding not in DECODERS:
        raise fail("unsupported_encoding")
    return _decompress(body, DECODERS[encoding], request.app[SETTINGS].max_body_bytes)


def _decompress(body: bytes, wbits: int, limit: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    try:
        decoded = decoder.decompress(body, limit + 1)  # a small bomb must not inflate past the limit
    except zlib.error:
        raise fail("bad_encoding") from None
    if len(decoded) > limit:
        raise fail("body_too_large", f"The decoded request body exceeds {limit} bytes.")
    if not decoder.eof or decoder.unused_data:
        raise fail("bad_encoding")
    return decoded


async def _answered_and_closed(request: web.Request, error: ApiError) -> ApiError:
    """The answer is written now and the connection closed after it: aiohttp would otherwise keep reading the
    rest of a slow body for its lingering time before closing."""
    error.response.force_close()
    await error.response.prepare(request)
    await error.response.write_eof()
    request.protocol.force_close()  # the transport sends what was written, then closes
    return error


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
