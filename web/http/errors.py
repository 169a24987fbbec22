"""Every failure leaves as JSON `{"detail": ..., "code": ...}` with the right status; nothing leaks a stack trace.

`CATALOGUE` is the one list of error codes: each with its status and usual message. The OpenAPI document and
the README publish it, and a test checks that every code the handlers use is in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.errors import Busy, ShowInconsistent, ShowNotFound, ShuttingDown
from engine.ports import StorageUnavailable, UserGone
from web.http.clients import client_of
from web.http.headers import undecodable_header
from web.http.jsonio import json_response

log = logging.getLogger("cinema.errors")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ErrorCode:
    status: int
    message: str  # the usual `detail`; some answers fill in specifics (seat numbers, the show's capacity)


CATALOGUE: dict[str, ErrorCode] = {
    code: ErrorCode(status, message)
    for code, status, message in (
        ("bad_encoding", 400, "The request body is not valid for its Content-Encoding."),
        ("invalid_json", 400, "The request body must be valid JSON."),
        ("not_an_object", 400, "The request body must be a JSON object."),
        ("invalid_input", 400, "Invalid input."),
        ("nul_character", 400, "Text must not contain NUL characters."),
        ("malformed_request", 400, "Malformed HTTP request."),
        ("invalid_query", 400, "Invalid query parameter."),
        ("invalid_idempotency_key", 400, "Idempotency-Key must be 1 to 255 printable characters."),
        ("seat_out_of_range", 400, "Seat {seats} is not in this show: its seats are 1 to {total_seats}."),
        ("unpriced", 400, "Prices are missing for some seat categories of the layout."),
        ("unknown_ticket_type", 400, "This show does not sell that ticket type for those seats."),
        ("ticket_types_mismatch", 400, "Give one ticket type per seat, in the seats' order."),
        ("not_authenticated", 401, "Authentication credentials were not provided."),
        ("bad_authorization_header", 401, "Authorization header must be 'Bearer <token>'."),
        ("empty_token", 401, "The Authorization header says 'Bearer' but no token follows (an empty variable?)."),
        ("token_invalid", 401, "Token is invalid."),
        ("token_expired", 401, "Token has expired."),
        ("wrong_token_type", 401, "Token is not an access token (or, for /login/refresh/, not a refresh token)."),
        ("user_not_found", 401, "User not found."),
        ("bad_credentials", 401, "No active account found with the given credentials."),
        ("refresh_reused", 401, "This refresh token was already used; every token of its login is revoked. Log in."),
        ("refresh_revoked", 401, "This refresh token was revoked. Log in again."),
        ("token_revoked", 401, "This token was issued before the password changed. Log in again."),
        ("refresh_unknown", 401, "This refresh token is not valid (it may have expired). Log in again."),
        ("permission_denied", 403, "You do not have permission to perform this action."),
        ("cluster_secret_required", 403, "This route is for cluster nodes only."),
        ("not_found", 404, "Not found."),
        ("invalid_page", 404, "Invalid page."),
        ("unknown_movie", 404, "Movie not found."),
        ("unknown_show", 404, "Show not found."),
        ("unknown_booking", 404, "Booking not found."),
        ("unknown_hold", 404, "Hold not found (it may have been confirmed, released or expired)."),
        ("unknown_order", 404, "Order not found."),
        ("unknown_screen", 404, "Screen not found."),
        ("unknown_ticket", 404, "Unknown ticket, or a ticket for another show."),
        ("wrong_show", 404, "This ticket is for another show (named in `show`)."),
        ("method_not_allowed", 405, "Method not allowed."),
        ("body_timeout", 408, "The request body did not arrive in time."),
        ("conflict", 409, "Conflict."),
        ("username_taken", 409, "A user with that username already exists."),
        ("seat_taken", 409, "Seat {seats} is already booked."),
        ("seats_unavailable", 409, "Not available (booked, held or blocked): seats {seats}."),
        ("sold_out", 409, "The show is sold out."),
        ("no_adjacent_seats", 409, "No row has that many adjacent free seats (or the show has no row layout)."),
        ("already_cancelled", 409, "Booking is already cancelled."),
        ("hold_expired", 409, "The hold has expired; its seats were released."),
        (
            "seat_limit",
            409,
            "That would give you more seats in this show than one customer may hold and book (at most `limit`).",
        ),
        ("in_progress", 409, "A request with this Idempotency-Key is still in progress."),
        ("show_started", 409, "The show has started: its seats can no longer be booked, held or changed."),
        ("cancel_closed", 409, "Too late to cancel: cancelling closes before the show starts."),
        (
            "companion_needs_wheelchair",
            409,
            "Companion seat {seats} can only be booked with the wheelchair space beside it.",
        ),
        ("schedule_clash", 409, "The screen is taken at that time by another show (film plus cleaning gap)."),
        ("screen_name_taken", 409, "A screen of that name exists already."),
        ("ticket_used", 409, "The ticket has been scanned at the door; it can no longer be cancelled."),
        ("already_checked_in", 409, "Already checked in."),
        ("check_in_closed", 409, "Check-in is not open for this show now."),
        ("ticket_cancelled", 410, "This ticket was cancelled."),
        ("body_too_large", 413, "Request body too large."),
        ("unsupported_media_type", 415, "The request body must be application/json."),
        ("unsupported_encoding", 415, "Content-Encoding must be gzip, deflate or identity."),
        ("unprocessable", 422, "The request cannot be processed."),
        ("idempotency_key_reused", 422, "This Idempotency-Key was used for a different request."),
        ("too_many_login_attempts", 429, "Too many login attempts; try again later."),
        ("rate_limited", 429, "Too many requests from this address; try again later."),
        ("client_closed", 499, "Client closed the connection."),
        ("internal_error", 500, "Internal server error."),
        ("busy", 503, "The service is busy; try again shortly."),
        ("storage_unavailable", 503, "The booking store is unavailable; nothing was changed. Try again shortly."),
        ("webhook_target_refused", 400, "This URL may not be called (loopback, private or link-local, or not http)."),
        ("unknown_webhook", 404, "Webhook not found."),
        ("show_inconsistent", 503, "The stored state of this show contradicts itself; it is refused until repaired."),
        ("seats_available", 409, "This show has free seats: book them. The waiting list is for sold-out shows."),
        ("already_waiting", 409, "You are already on this show's waiting list."),
        ("waitlist_full", 409, "This show's waiting list is full."),
        ("unknown_waitlist_entry", 404, "Waiting-list entry not found (it may have been booked, declined or left)."),
    )
}
# The code of an answer that names none (aiohttp's own errors, and any handler that gives only a status).
GENERIC = {
    400: "invalid_input",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    408: "body_timeout",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_login_attempts",
    500: "internal_error",
    503: "busy",
}


def error_response(
    status: int, detail: str, headers: dict[str, str] | None = None, code: str | None = None, **extra: Any
) -> web.Response:
    return json_response({"detail": detail, "code": code or GENERIC.get(status, "error"), **extra}, status, headers)


class ApiError(Exception):
    """Raised by handlers to answer with an error; the middleware renders it."""

    def __init__(
        self, status: int, detail: str, headers: dict[str, str] | None = None, code: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.code = code or GENERIC.get(status, "error")
        self.response = error_response(status, detail, headers, self.code, **extra)


def fail(code: str, detail: str | None = None, headers: dict[str, str] | None = None, **extra: Any) -> ApiError:
    """The catalogue's answer for `code`, with its usual message unless `detail` says more."""
    entry = CATALOGUE[code]
    return ApiError(entry.status, detail or entry.message, headers, code, **extra)


def unauthorized(code: str, detail: str | None = None) -> ApiError:
    assert CATALOGUE[code].status == 401, code
    return fail(code, detail, {"WWW-Authenticate": 'Bearer realm="cinema"'})


def unavailable(detail: str, retry_after: int = 1, code: str = "busy") -> web.Response:
    assert CATALOGUE[code].status == 503, code
    return error_response(503, detail, {"Retry-After": str(retry_after)}, code)


class Throttle:
    """At most one log line per key per `seconds`, with how many were left out: a rush of 409s after a
    sell-out costs a dictionary lookup each, not a line each."""

    def __init__(self, seconds: float = 10.0, max_keys: int = 1_000) -> None:
        self._seconds = seconds
        self._max_keys = max_keys
        self._next: dict[tuple[object, ...], tuple[float, int]] = {}

    def forget(self) -> None:
        self._next.clear()

    def allow(self, key: tuple[object, ...]) -> int | None:
        """None to stay quiet, else the number of lines left out since the last one."""
        now = time.monotonic()
        due, skipped = self._next.get(key, (0.0, 0))
        if now < due:
            self._next[key] = (due, skipped + 1)
            return None
        if len(self._next) >= self._max_keys:
            self._next.clear()
        self._next[key] = (now + self._seconds, 0)
        return skipped


THROTTLE = Throttle()


def log_refusal(request: web.Request, response: web.Response, code: str) -> None:
    """One line for what an operator should see: 4xx answers by code (throttled), lock-outs as warnings."""
    status = response.status
    level = logging.WARNING if status == 429 else logging.INFO
    if not log.isEnabledFor(level):
        return
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"  # a bounded set of keys, whatever is sent
    skipped = THROTTLE.allow((status, code, route))
    if skipped is None:
        return
    fields = {
        "status": status,
        "code": code,
        "method": request.method,
        "route": route,
        "path": request.path[:200],
        "remote": client_of(request),
    }
    if skipped:
        fields["similar_not_logged"] = skipped
    log.log(level, "login locked out" if status == 429 else "refused", extra={"fields": fields})


async def _route_hint(request: web.Request) -> tuple[str, str] | None:
    """The same path with (or without) its trailing slash, when that one exists: the commonest 404. With the
    method it answers: the request's own when the other path takes it, else one the other path does take."""
    path = request.path
    other = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
    match = await request.app.router.resolve(request.clone(rel_url=request.rel_url.with_path(other)))
    exception = match.http_exception
    if exception is None:
        return request.method, other
    if isinstance(exception, web.HTTPMethodNotAllowed) and exception.allowed_methods:
        allowed = sorted(exception.allowed_methods - {"HEAD", "OPTIONS"}) or sorted(exception.allowed_methods)
        return allowed[0], other
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        bad = undecodable_header(request.headers)
        if bad is not None:
            raise fail("malformed_request", f"The {bad} header is not valid UTF-8.")
        return await handler(request)
    except ApiError as error:
        log_refusal(request, error.response, error.code)
        return error.response
    except web.HTTPException as error:
        if error.empty_body or error.status < 400:
            raise
        headers = {k: v for k, v in error.headers.items() if k.lower() not in ("content-type", "content-length")}
        code = GENERIC.get(error.status, "error")
        detail = CATALOGUE[code].message if code in CATALOGUE else error.reason
        extra: dict[str, Any] = {}
        if error.status == 404:
            hint = await _route_hint(request)
            if hint is not None:
                method, path = hint
                detail = f"Not found. Did you mean {method} {path} (mind the trailing slash)?"
                extra["hint"] = path
        response = error_response(error.status, detail, headers or None, code, **extra)
        log_refusal(request, response, code)
        return response
    except ShowNotFound:
        return error_response(404, CATALOGUE["unknown_show"].message, code="unknown_show")
    except UserGone:  # deleted while a cached token still named it: the token is no good any more
        return unauthorized("user_not_found").response
    except Busy as error:
        return unavailable(f"The service is busy ({error}); try again shortly.", error.retry_after)
    except ShowInconsistent as error:  # logged by the show's actor, with every contradiction
        detail = f"The stored state of show {error.show_id} contradicts itself ({error}); it is refused until repaired."
        return error_response(503, detail, {"Retry-After": "60"}, "show_inconsistent", show_id=error.show_id)
    except (StorageUnavailable, ShuttingDown):
        return unavailable(CATALOGUE["storage_unavailable"].message, code="storage_unavailable")
    except ConnectionResetError:  # the client went away mid-answer: its business, not a server fault
        log.info("client went away during %s %s", request.method, request.path[:200])
        return error_response(499, CATALOGUE["client_closed"].message, code="client_closed")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path[:200])
        return error_response(500, CATALOGUE["internal_error"].message, code="internal_error")


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table, for the OpenAPI description (and checked against the README)."""
    lines = ["| code | status | message |", "|---|---|---|"]
    lines += [f"| `{code}` | {entry.status} | {entry.message} |" for code, entry in CATALOGUE.items()]
    return "\n".join(lines)
