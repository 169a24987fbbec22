"""Every failure leaves as JSON `{"detail": ...}` with the right status; nothing leaks a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from engine.errors import Busy, ShowNotFound, ShuttingDown
from engine.ports import StorageUnavailable, UserGone
from web.jsonio import json_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    return json_response({"detail": detail, **extra}, status=status, headers=headers)


class ApiError(Exception):
    """Raised by handlers to answer with an error; the middleware renders it."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.response = error_response(status, detail, headers, **extra)


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, {"WWW-Authenticate": 'Bearer realm="cinema"'})


def unavailable(detail: str, retry_after: int = 1) -> web.Response:
    return error_response(503, detail, {"Retry-After": str(retry_after)})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error.response
    except web.HTTPException as error:
        if error.empty_body or error.status < 400:
            raise
        headers = {k: v for k, v in error.headers.items() if k.lower() not in ("content-type", "content-length")}
        return error_response(error.status, error.reason, headers or None)
    except ShowNotFound:
        return error_response(404, "Show not found.")
    except UserGone:  # deleted while a cached token still named it: the token is no good any more
        return unauthorized("User not found.").response
    except Busy as error:
        return unavailable(f"The service is busy ({error}); try again shortly.", error.retry_after)
    except (StorageUnavailable, ShuttingDown):
        return unavailable("The booking store is unavailable; nothing was changed. Try again shortly.")
    except ConnectionResetError:  # the client went away mid-answer: its business, not a server fault
        log.info("client went away during %s %s", request.method, request.path[:200])
        return error_response(499, "Client closed the connection.")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path[:200])
        return error_response(500, "Internal server error.")
