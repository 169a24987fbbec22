"""Sign-up, login and token refresh."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from storage.repository import UsernameTaken
from web import schemas
from web.auth import TOKENS
from web.context import HASHER, LOGIN_LIMITS, REPOSITORY
from web.errors import fail, unauthorized
from web.jsonio import json_response

routes = web.RouteTableDef()


@docs(tags=["accounts"], summary="Create an account", security=[])
@request_schema(
    schemas.SignupRequest,
    example={"username": "newcomer", "email": "newcomer@example.com", "password": "a-long-password"},
)
@response_schema(schemas.User, 201, description="Created")
@response_schema(schemas.Error, 400, description="Invalid input")
@response_schema(schemas.Error, 409, description="Username taken")
@routes.post("/signup")
async def signup(request: web.Request) -> web.Response:
    data = await schemas.load_body(request, schemas.SignupRequest)
    password_hash = await request.app[HASHER].hash(data["password"])
    try:
        user = await request.app[REPOSITORY].create_user(data["username"], data["email"], password_hash)
    except UsernameTaken:
        raise fail("username_taken") from None
    return json_response({"id": user.id, "username": user.username, "email": user.email}, status=201)


@docs(tags=["accounts"], summary="Log in: a pair of JWTs (access 60 min, refresh 1 day)", security=[])
@request_schema(schemas.LoginRequest, example={"username": "demo", "password": "demo-password"})
@response_schema(schemas.TokenPair, 200, description="Tokens")
@response_schema(schemas.Error, 400, description="Invalid input")
@response_schema(schemas.Error, 401, description="Bad credentials")
@response_schema(schemas.Error, 429, description="Too many attempts for this username or address (see Retry-After)")
@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    data = await schemas.load_body(request, schemas.LoginRequest)
    limits = request.app[LOGIN_LIMITS]
    username_key = data["username"].casefold()
    wait = limits.by_address.hit(request.remote or "unknown") or limits.by_username.hit(username_key)
    if wait:
        raise fail("too_many_login_attempts", headers={"Retry-After": str(wait)})
    user = await request.app[REPOSITORY].user_by_name(data["username"])
    ok = await request.app[HASHER].check(data["password"], user.password_hash if user else None)
    if not ok or user is None:
        raise unauthorized("bad_credentials")
    limits.by_username.reset(username_key)
    return json_response(request.app[TOKENS].issue(user.id, user.username))


@docs(tags=["accounts"], summary="Trade a refresh token for a new pair", security=[])
@request_schema(schemas.RefreshRequest, example={"refresh": "paste the refresh token from POST /login"})
@response_schema(schemas.TokenPair, 200, description="Tokens")
@response_schema(schemas.Error, 400, description="Invalid input")
@response_schema(schemas.Error, 401, description="Invalid or expired refresh token")
@routes.post("/login/refresh/")
async def refresh(request: web.Request) -> web.Response:
    data = await schemas.load_body(request, schemas.RefreshRequest)
    principal = request.app[TOKENS].verify(data["refresh"], "refresh")
    user = await request.app[REPOSITORY].user_by_id(principal.user_id)
    if user is None:
        raise unauthorized("user_not_found")
    return json_response(request.app[TOKENS].issue(user.id, user.username))
