"""JWT access and refresh tokens (HS256, algorithm pinned) and the per-request bearer check."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from aiohttp import web

from web.errors import unauthorized

ALGORITHM = "HS256"
TOKEN_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str


class Tokens:
    def __init__(self, secret: str, access_minutes: int, refresh_minutes: int) -> None:
        assert len(secret) >= 16, "a short secret makes tokens forgeable"
        self._secret = secret
        self._access_seconds = access_minutes * 60
        self._refresh_seconds = refresh_minutes * 60
        # Verified access tokens, so the hot path skips the HMAC and claim checks; bounded, entries expire.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue(self, user_id: int, username: str) -> dict[str, str]:
        return {
            "access": self._encode(user_id, username, "access", self._access_seconds),
            "refresh": self._encode(user_id, username, "refresh", self._refresh_seconds),
        }

    def _encode(self, user_id: int, username: str, kind: str, lifetime: int) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "name": username,
            "type": kind,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, kind: str) -> Principal:
        """The principal a valid, unexpired token of `kind` names; raises a 401 ApiError otherwise."""
        if kind == "access":
            cached = self._verified.get(token)
            if cached is not None and cached[1] > time.time():
                return cached[0]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "type"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("Token has expired.") from None
        except jwt.InvalidTokenError:
            raise unauthorized("Token is invalid.") from None
        if claims["type"] != kind:
            raise unauthorized(
                f"Token is not an {kind} token." if kind == "access" else f"Token is not a {kind} token."
            )
        try:
            principal = Principal(int(claims["sub"]), str(claims.get("name", "")))
        except ValueError:
            raise unauthorized("Token is invalid.") from None
        if kind == "access":
            if len(self._verified) >= TOKEN_CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = (principal, float(claims["exp"]))
        return principal


TOKENS = web.AppKey("tokens", Tokens)


def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization")
    if not header:
        raise unauthorized("Authentication credentials were not provided.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Authorization header must be 'Bearer <token>'.")
    return request.app[TOKENS].verify(token.strip(), "access")
