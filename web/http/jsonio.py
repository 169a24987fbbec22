"""JSON in and out through orjson: on the booking path it parses and encodes several times faster than json."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

loads = orjson.loads
JSONDecodeError = orjson.JSONDecodeError


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)  # marshmallow keys list errors by index
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")
