"""JWT access and refresh tokens (HS256, algorithm pinned) and the per-request bearer check."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web

from storage.repository import UserRow
from web.context import REPOSITORY
from web.http.errors import fail, unauthorized
from web.schemas import MAX_ID, canonical_int

ALGORITHM = "HS256"
TOKEN_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    expires_at: float
    token_id: str = ""  # the `jti`: refresh tokens are tracked by it
    version: int = 0  # the user's token version when issued (`ver`); a password change bumps the user's


@dataclass(frozen=True, slots=True)
class Issued:
    pair: dict[str, str]  # the answer: {"access": ..., "refresh": ...}
    refresh_id: str
    refresh_expires: datetime


class Tokens:
    def __init__(self, secret: str, access_minutes: int, refresh_minutes: int, recheck_seconds: float = 30) -> None:
        assert len(secret) >= 16, "a short secret makes tokens forgeable"
        self._secret = secret
        self._access_seconds = access_minutes * 60
        self._refresh_seconds = refresh_minutes * 60
        self._recheck_seconds = recheck_seconds  # a deleted user's cached token stops working within this
        # Verified access tokens of existing users, so the hot path skips the HMAC, the claim checks and the
        # user lookup; bounded, and entries expire with the token or after `recheck_seconds`.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue(self, user_id: int, username: str, version: int = 0) -> Issued:
        """A new pair; the caller stores the refresh token's id (web/api/accounts.py), which makes it usable once.
        `version`: the user's token version, which the pair carries until a password change bumps it."""
        refresh_id = uuid.uuid4().hex
        expires = int(time.time()) + self._refresh_seconds
        access_id = uuid.uuid4().hex
        return Issued(
            {
                "access": self._encode(user_id, username, "access", self._access_seconds, access_id, version),
                "refresh": self._encode(user_id, username, "refresh", self._refresh_seconds, refresh_id, version),
            },
            refresh_id,
            datetime.fromtimestamp(expires, UTC),
        )

    def _encode(self, user_id: int, username: str, kind: str, lifetime: int, token_id: str, version: int) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "name": username,
            "type": kind,
            "iat": now,
            "exp": now + lifetime,
            "jti": token_id,
            "ver": version,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, kind: str) -> Principal:
        """The principal a valid, unexpired token of `kind` names; raises a 401 ApiError otherwise."""
        if not token.isascii():  # a JWT is ASCII; PyJWT raised UnicodeEncodeError (a 500) on undecodable bytes
            raise unauthorized("token_invalid")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "type"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token_expired") from None
        except jwt.InvalidTokenError:
            raise unauthorized("token_invalid") from None
        if claims["type"] != kind:
            raise unauthorized(
                "wrong_token_type",
                f"Token is not an {kind} token." if kind == "access" else f"Token is not a {kind} token.",
            )
        user_id = _claims_user(claims)
        if user_id is None:
            raise unauthorized("token_invalid")
        return Principal(user_id, claims.get("name", ""), claims["exp"], claims.get("jti", ""), claims.get("ver", 0))

    def cached(self, token: str) -> Principal | None:
        entry = self._verified.get(token)
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def remember(self, token: str, principal: Principal) -> None:
        if len(self._verified) >= TOKEN_CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (principal, min(principal.expires_at, time.time() + self._recheck_seconds))


def _claims_user(claims: dict[str, Any]) -> int | None:
    """The user id of claims whose every field has its exact type (PyJWT accepts `"exp": "123"`), with `sub`
    a canonical id that fits the id column; None otherwise."""
    typed = (
        all(type(claims[name]) is int for name in ("exp", "iat"))
        and all(type(claims.get(name, "")) is str for name in ("sub", "type", "name", "jti"))
        and len(claims.get("jti", "")) <= 64
        and type(claims.get("ver", 0)) is int
    )
    if not typed:
        return None
    user_id = canonical_int(claims["sub"], MAX_ID)
    return user_id if user_id else None


TOKENS = web.AppKey("tokens", Tokens)


async def authenticate(request: web.Request) -> Principal:
    """The caller named by a valid access token of a user who still exists; 401 otherwise."""
    header = request.headers.get("Authorization")
    if not header:
        raise unauthorized("not_authenticated")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise unauthorized("bad_authorization_header")
    if not token:
        raise unauthorized("empty_token")
    tokens = request.app[TOKENS]
    principal = tokens.cached(token)
    if principal is None:
        principal = tokens.verify(token, "access")
        current(await request.app[REPOSITORY].user_by_id(principal.user_id), principal)
        tokens.remember(token, principal)
    return principal


def current(user: UserRow | None, principal: Principal) -> UserRow:
    """The user a token names, if it still exists and the token is of its current version (issued after the
    last password change); 401 otherwise. Called wherever a token's user is looked up again."""
    if user is None:
        raise unauthorized("user_not_found")
    if principal.version != user.token_version:
        raise unauthorized("token_revoked")
    return user


async def require_admin(request: web.Request) -> int:
    """The admin's user id; 401 or 403 otherwise."""
    principal = await authenticate(request)
    user = current(await request.app[REPOSITORY].user_by_id(principal.user_id), principal)
    if not user.is_admin:
        raise fail("permission_denied")
    return user.id


async def require_staff(request: web.Request) -> int:
    """The user id of door staff (or an admin); 401 or 403 otherwise."""
    principal = await authenticate(request)
    user = current(await request.app[REPOSITORY].user_by_id(principal.user_id), principal)
    if not (user.is_staff or user.is_admin):
        raise fail("permission_denied", "Only door staff can check tickets in.")
    return user.id
