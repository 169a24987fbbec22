"""Reading a request body as a hostile client may send it: wrong type, slow, or falsely compressed.

Every route that reads a body comes through `read_body`, so routes added later get the same checks. aiohttp's
own decompression is off (see `create_app`): it answered a bad gzip body with a 500 and `br` with plain text;
here gzip and deflate are decoded with a bound on the decoded size, and anything else is a JSON 415.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web

from web.context import SETTINGS
from web.errors import ApiError

JSON = "application/json"
DECODERS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


async def read_body(request: web.Request) -> bytes:
    """The decoded body; 415 unless it is JSON, 408 when it does not arrive in time, 413 when too large."""
    if request.body_exists and request.content_type != JSON:
        raise ApiError(415, f"The request body must be {JSON}.", code="unsupported_media_type")
    if request.content.is_eof():  # the usual small body came with the headers: no timer needed
        body = await request.read()
    else:
        try:
            async with asyncio.timeout(request.app[SETTINGS].body_timeout_seconds):
                body = await request.read()  # over client_max_size: 413, rendered by the error middleware
        except TimeoutError:
            raise await _answered_and_closed(request, 408, "The request body did not arrive in time.") from None
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "identity" or not body:
        return body
    if encoding not in DECODERS:
        raise ApiError(415, "Content-Encoding must be gzip, deflate or identity.", code="unsupported_encoding")
    return _decompress(body, DECODERS[encoding], request.app[SETTINGS].max_body_bytes)


def _decompress(body: bytes, wbits: int, limit: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    try:
        decoded = decoder.decompress(body, limit + 1)  # a small bomb must not inflate past the limit
    except zlib.error:
        raise ApiError(400, "The request body is not valid for its Content-Encoding.", code="bad_encoding") from None
    if len(decoded) > limit:
        raise ApiError(413, f"The decoded request body exceeds {limit} bytes.", code="body_too_large")
    if not decoder.eof or decoder.unused_data:
        raise ApiError(400, "The request body is not valid for its Content-Encoding.", code="bad_encoding")
    return decoded


async def _answered_and_closed(request: web.Request, status: int, detail: str) -> ApiError:
    """The answer is written now and the connection closed after it: aiohttp would otherwise keep reading the
    rest of a slow body for its lingering time before closing."""
    error = ApiError(status, detail, code="body_timeout")
    error.response.force_close()
    await error.response.prepare(request)
    await error.response.write_eof()
    request.protocol.force_close()  # the transport sends what was written, then closes
    return error
