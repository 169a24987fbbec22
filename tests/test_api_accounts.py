"""Sign-up, login and refresh through real HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest

from scripts.testing.server_process import run_cinema
from tests.conftest import JWT_SECRET, Api
from web.app import create_app
from web.settings import Settings


async def test_signup_creates_user(api: Api) -> None:
    response = await api.client.post(
        "/signup", json={"username": "ann", "email": "ann@example.com", "password": "longenough"}
    )
    assert response.status == 201
    body = await response.json()
    assert body == {"id": body["id"], "username": "ann", "email": "ann@example.com"}


async def test_signup_username_taken(api: Api) -> None:
    await api.user("ann")
    response = await api.client.post(
        "/signup", json={"username": "ann", "email": "b@example.com", "password": "longenough"}
    )
    assert response.status == 409
    assert "already exists" in (await response.json())["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x", "email": "not-an-email", "password": "longenough"},
        {"username": "x", "email": "x@example.com", "password": "short"},
        {"username": "has space", "email": "x@example.com", "password": "longenough"},
        {"username": "x" * 151, "email": "x@example.com", "password": "longenough"},
        {"username": 5, "email": "x@example.com", "password": "longenough"},
    ],
)
async def test_signup_invalid(api: Api, body: dict) -> None:
    response = await api.client.post("/signup", json=body)
    assert response.status == 400
    payload = await response.json()
    assert payload["detail"] == "Invalid input." and payload["errors"]


async def test_signup_not_json(api: Api) -> None:
    response = await api.client.post("/signup", data=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "JSON" in (await response.json())["detail"]
    response = await api.client.post("/signup", json=[1, 2])
    assert response.status == 400


async def test_unicode_username(api: Api) -> None:
    user = await api.user("zoë_北京")
    assert user["username"] == "zoë_北京"


async def test_login_returns_token_pair(api: Api) -> None:
    user = await api.user("bob", "correct-horse-7")
    claims = jwt.decode(user["tokens"]["access"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(user["id"]) and claims["type"] == "access"
    assert 59 * 60 <= claims["exp"] - claims["iat"] <= 60 * 60
    refresh = jwt.decode(user["tokens"]["refresh"], JWT_SECRET, algorithms=["HS256"])
    assert refresh["type"] == "refresh" and refresh["exp"] - refresh["iat"] == 24 * 3600


@pytest.mark.parametrize("username,password", [("bob", "wrong-password"), ("nobody", "correct-horse-7")])
async def test_login_bad_credentials(api: Api, username: str, password: str) -> None:
    await api.user("bob", "correct-horse-7")
    response = await api.client.post("/login", json={"username": username, "password": password})
    assert response.status == 401
    assert (await response.json())["detail"] == "No active account found with the given credentials."


async def test_login_missing_fields(api: Api) -> None:
    response = await api.client.post("/login", json={"username": "bob"})
    assert response.status == 400


async def test_refresh(api: Api) -> None:
    user = await api.user()
    response = await api.client.post("/login/refresh/", json={"refresh": user["tokens"]["refresh"]})
    assert response.status == 200
    tokens = await response.json()
    me = await api.client.get("/my-bookings/", headers={"Authorization": f"Bearer {tokens['access']}"})
    assert me.status == 200


async def test_refresh_rejects_access_token_and_garbage(api: Api) -> None:
    user = await api.user()
    for token in (user["tokens"]["access"], "garbage"):
        response = await api.client.post("/login/refresh/", json={"refresh": token})
        assert response.status == 401


def forge(claims: dict, secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


async def test_bad_tokens_are_401(api: Api) -> None:
    user = await api.user()
    now = int(time.time())
    good = {"sub": str(user["id"]), "type": "access", "iat": now, "exp": now + 60}
    none_alg = jwt.encode(good, None, algorithm="none")
    cases = {
        "none": none_alg,
        "wrong signature": forge(good, secret="another-secret-that-is-long-enough"),
        "expired": forge({**good, "iat": now - 7200, "exp": now - 3600}),
        "refresh as access": user["tokens"]["refresh"],
        "garbage": "not.a.token",
        "no sub": forge({"type": "access", "iat": now, "exp": now + 60}),
    }
    for name, token in cases.items():
        response = await api.client.get("/my-bookings/", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401, name
        assert (await response.json())["detail"], name
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    expired = await api.client.get("/my-bookings/", headers={"Authorization": f"Bearer {cases['expired']}"})
    assert (await expired.json())["detail"] == "Token has expired."


async def test_missing_or_malformed_authorization(api: Api) -> None:
    for headers in ({}, {"Authorization": "Token abc"}, {"Authorization": "Bearer "}):
        response = await api.client.get("/my-bookings/", headers=headers)
        assert response.status == 401


async def test_password_hash_never_in_responses(api: Api) -> None:
    user = await api.user("carol", "correct-horse-7")
    body = await (await api.client.get("/my-bookings/", headers=user["headers"])).text()
    assert "$2b$" not in body and "password" not in body


async def test_a_password_reset_ends_every_login_of_before_it(aiohttp_client: Any, settings: Settings) -> None:
    """`cinema create-staff USER --reset-password`: refresh tokens of before answer 401 at once (every family
    revoked), access tokens of before at the next user recheck; the new password logs in as usual."""
    api = Api(await aiohttp_client(create_app(replace(settings, user_recheck_seconds=0.5))))
    database_url = settings.database_url
    user = await api.user(password="old-password-1")
    other_login = await (
        await api.client.post("/login", json={"username": user["username"], "password": "old-password-1"})
    ).json()
    assert (await api.client.get("/my-bookings/", headers=user["headers"])).status == 200  # trusted until recheck
    reset = await asyncio.to_thread(
        run_cinema,
        ["create-staff", user["username"], "--reset-password"],
        database_url,
        CINEMA_ADMIN_PASSWORD="new-password-2",
    )
    assert reset.returncode == 0, reset.stderr
    for tokens in (user["tokens"], other_login):
        refreshed = await api.client.post("/login/refresh/", json={"refresh": tokens["refresh"]})
        assert refreshed.status == 401, await refreshed.text()
        assert (await refreshed.json())["code"] in ("token_revoked", "refresh_revoked")
    await asyncio.sleep(0.6)  # past the recheck window
    stale = await api.client.get("/my-bookings/", headers=user["headers"])
    assert stale.status == 401 and (await stale.json())["code"] == "token_revoked"
    old = await api.client.post("/login", json={"username": user["username"], "password": "old-password-1"})
    assert old.status == 401
    fresh = await api.client.post("/login", json={"username": user["username"], "password": "new-password-2"})
    assert fresh.status == 200
    pair = await fresh.json()
    assert (await api.client.get("/my-bookings/", headers={"Authorization": f"Bearer {pair['access']}"})).status == 200
    assert (await api.client.post("/login/refresh/", json={"refresh": pair["refresh"]})).status == 200
