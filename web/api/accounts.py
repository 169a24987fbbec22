"""Sign-up, login and token refresh."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from engine.errors import Busy
from storage.repository import Refresh, UsernameTaken
from storage.usernames import username_key
from web import schemas
from web.context import HASHER, LOGIN_LIMITS, REPOSITORY
from web.http.body import load_body
from web.http.clients import client_of
from web.http.errors import ApiError, fail, unauthorized
from web.http.jsonio import json_response
from web.http.observability import METRICS
from web.http.openapi import errors
from web.security.auth import TOKENS, current
from web.security.passwords import SourceBusy

routes = web.RouteTableDef()
T = TypeVar("T")


def _limited(request: web.Request, kind: str, wait: int, what: str) -> ApiError:
    """A 429 of limit `kind`, counted in /metrics (the error middleware logs it, throttled)."""
    request.app[METRICS].limit_refusals.note(kind, client_of(request), logged=False)
    return fail("rate_limited", f"Too many {what}; try again later.", {"Retry-After": str(wait)})


async def _password_work(request: web.Request, work: Awaitable[T]) -> T:
    """bcrypt through the fair queue: an address with too many checks waiting gets a 429 at once."""
    try:
        return await work
    except SourceBusy:
        raise _limited(request, "password_checks", 1, "password checks from this address at once") from None
    except Busy:  # every queue full, or this check waited too long: the error middleware answers 503
        request.app[METRICS].limit_refusals.note("password_checker", client_of(request))
        raise


@docs(tags=["accounts"], summary="Create an account", security=[])
@request_schema(
    schemas.SignupRequest,
    example={"username": "newcomer", "email": "newcomer@example.com", "password": "a-long-password"},
)
@response_schema(schemas.User, 201, description="Created")
@errors(
    {
        400: "Invalid input, or a password the policy refuses",
        409: "Username taken (compared after NFKC and case folding)",
        429: "Too many sign-ups from this address (see Retry-After)",
    }
)
@routes.post("/signup")
async def signup(request: web.Request) -> web.Response:
    source = client_of(request)
    wait = request.app[LOGIN_LIMITS].signups.hit(source)
    if wait:
        raise _limited(request, "signups", wait, "sign-ups from this address")
    data = await load_body(request, schemas.SignupRequest)
    password_hash = await _password_work(request, request.app[HASHER].hash(data["password"], source))
    try:
        user = await request.app[REPOSITORY].create_user(data["username"], data["email"], password_hash)
    except UsernameTaken:
        raise fail("username_taken") from None
    return json_response({"id": user.id, "username": user.username, "email": user.email}, status=201)


@docs(tags=["accounts"], summary="Log in: a pair of JWTs (access 60 min, refresh 1 day)", security=[])
@request_schema(schemas.LoginRequest, example={"username": "demo", "password": "demo-password"})
@response_schema(schemas.TokenPair, 200, description="Tokens")
@errors(
    {
        400: "Invalid input",
        401: "Bad credentials",
        429: "Too many attempts for this username or address (see Retry-After)",
    }
)
@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    data = await load_body(request, schemas.LoginRequest)
    limits = request.app[LOGIN_LIMITS]
    source = client_of(request)
    # Never per username alone: a stranger's wrong passwords would lock the real user out.
    user_key = f"{username_key(data['username'])}\n{source}"
    refusals = request.app[METRICS].limit_refusals
    wait = limits.by_address.hit(source)
    if wait:
        refusals.note("logins_per_address", source, logged=False)
    else:
        wait = limits.by_user_and_address.hit(user_key)
        if wait:
            refusals.note("logins_per_username", source, logged=False)
    if wait:
        raise fail("too_many_login_attempts", headers={"Retry-After": str(wait)})
    hasher = request.app[HASHER]
    if not hasher.has_room(source):
        raise _limited(request, "password_checks", 1, "password checks from this address at once")
    user = await request.app[REPOSITORY].user_by_name(data["username"])
    ok = await _password_work(request, hasher.check(data["password"], user.password_hash if user else None, source))
    if not ok or user is None:
        raise unauthorized("bad_credentials")
    limits.by_user_and_address.reset(user_key)
    issued = request.app[TOKENS].issue(user.id, user.username, user.token_version)
    await request.app[REPOSITORY].store_refresh_token(
        issued.refresh_id, issued.refresh_id, user.id, issued.refresh_expires
    )  # a login starts a family, named by its first token
    return json_response(issued.pair)


@docs(
    tags=["accounts"],
    summary="Trade a refresh token for a new pair",
    description="Each refresh token works once. Presenting one that was already used revokes every token of "
    "its login (someone else holds a copy): log in again.",
    security=[],
)
@request_schema(schemas.RefreshRequest, example={"refresh": "paste the refresh token from POST /login"})
@response_schema(schemas.TokenPair, 200, description="Tokens")
@errors(
    {
        400: "Invalid input",
        401: "Invalid, expired, used or revoked refresh token",
        429: "Too many refreshes from this address (see Retry-After)",
    }
)
@routes.post("/login/refresh/")
async def refresh(request: web.Request) -> web.Response:
    wait = request.app[LOGIN_LIMITS].refreshes.hit(client_of(request))
    if wait:
        raise _limited(request, "refreshes", wait, "token refreshes from this address")
    data = await load_body(request, schemas.RefreshRequest)
    principal = request.app[TOKENS].verify(data["refresh"], "refresh")
    repository = request.app[REPOSITORY]
    user = current(await repository.user_by_id(principal.user_id), principal)  # of before a password change: 401
    issued = request.app[TOKENS].issue(user.id, user.username, user.token_version)
    outcome = await repository.rotate_refresh_token(
        principal.token_id, issued.refresh_id, user.id, issued.refresh_expires
    )
    if outcome is not Refresh.ROTATED:
        raise unauthorized(outcome.value)
    return json_response(issued.pair)
