"""Auth hardening and hostile input: clear 4xx answers, never a 500, never a secret in a response or log."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from storage.database import open_engine
from tests.conftest import Api
from web.app import create_app
from web.settings import Settings


async def delete_user(url: str, user_id: int) -> None:
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
    finally:
        await engine.dispose()


async def test_deleted_user_token_is_401(aiohttp_client: Any, settings: Settings, database_url: str) -> None:
    api = Api(await aiohttp_client(create_app(replace(settings, user_recheck_seconds=0))))
    user = await api.user()
    assert (await api.client.get("/my-bookings/", headers=user["headers"])).status == 200
    await delete_user(database_url, user["id"])
    response = await api.client.get("/my-bookings/", headers=user["headers"])
    assert response.status == 401
    assert (await response.json())["detail"] == "User not found."
    refreshed = await api.client.post("/login/refresh/", json={"refresh": user["tokens"]["refresh"]})
    assert refreshed.status == 401


async def test_fresh_token_of_deleted_user_is_401_even_with_the_cache(api: Api, database_url: str) -> None:
    user = await api.user()
    await delete_user(database_url, user["id"])
    response = await api.client.get("/my-bookings/", headers=user["headers"])  # first use: looked up
    assert response.status == 401


async def test_login_rate_limited_per_username(api: Api) -> None:
    await api.user("target", "correct-horse-7")
    for _ in range(10):
        response = await api.client.post("/login", json={"username": "target", "password": "wrong-password"})
        assert response.status == 401
    limited = await api.client.post("/login", json={"username": "TARGET", "password": "correct-horse-7"})
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "Too many" in (await limited.json())["detail"]
    # other users from the same address are not locked out by one username's failures
    await api.user("bystander", "correct-horse-7")
    ok = await api.client.post("/login", json={"username": "bystander", "password": "correct-horse-7"})
    assert ok.status == 200


async def test_login_rate_limited_per_address(aiohttp_client: Any, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(replace(settings, login_attempts_per_address=5)))
    statuses = [
        (await client.post("/login", json={"username": f"nobody-{n}", "password": "whatever1"})).status
        for n in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2


async def test_successful_login_resets_the_username_count(api: Api) -> None:
    await api.user("forgetful", "correct-horse-7")
    for _ in range(3):
        for _ in range(9):
            await api.client.post("/login", json={"username": "forgetful", "password": "nope-nope"})
        assert (
            await api.client.post("/login", json={"username": "forgetful", "password": "correct-horse-7"})
        ).status == 200


@pytest.mark.parametrize(
    "path,body",
    [
        ("/signup", {"username": "x" * 10_000, "email": "x@example.com", "password": "longenough"}),
        ("/signup", {"username": "ok", "email": "x" * 5_000 + "@example.com", "password": "longenough"}),
        ("/signup", {"username": "ok", "email": "x@example.com", "password": "p" * 73}),
        ("/signup", {"username": "\u0000\u202e", "email": "x@example.com", "password": "longenough"}),
        ("/signup", {"username": ["a"], "email": {}, "password": 12345678}),
        ("/login", {"username": "x" * 10_000, "password": "whatever1"}),
        ("/login", {"username": None, "password": None}),
        ("/login/refresh/", {"refresh": "x" * 10_000}),
        ("/login/refresh/", {"refresh": 7}),
    ],
)
async def test_hostile_bodies_are_400(api: Api, path: str, body: dict[str, Any]) -> None:
    response = await api.client.post(path, json=body)
    assert response.status == 400, await response.text()
    assert (await response.json())["detail"]


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"text"', b'{"seat_number": 1e400}', b"\xff\xfe", b"{" * 5000])
async def test_hostile_raw_book_bodies(api: Api, raw: bytes) -> None:
    show = await api.show(total_seats=5)
    user = await api.user()
    response = await api.client.post(
        f"/shows/{show['id']}/book/", data=raw, headers={**user["headers"], "Content-Type": "application/json"}
    )
    assert response.status == 400, await response.text()


@pytest.mark.parametrize(
    "path",
    [
        "/shows/1.5/book/",
        "/shows/-1/book/",
        "/shows/0/book/",
        "/shows/%20/book/",
        "/bookings/abc/cancel/",
        "/bookings/0/cancel/",
        "/movies/1e3/shows/",
    ],
)
async def test_non_integer_or_impossible_path_ids_are_404(api: Api, path: str) -> None:
    user = await api.user()
    method = api.client.get if path.startswith("/movies") else api.client.post
    response = await method(path, json={"seat_number": 1}, headers=user["headers"])
    assert response.status == 404, path
    assert (await response.json())["detail"]


async def test_secrets_never_in_responses_or_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts = []
    user = await api.user("secretive", "correct-horse-7")
    texts.append(await (await api.client.post("/login", json={"username": "secretive", "password": "bad-pass"})).text())
    texts.append(
        await (
            await api.client.post(
                "/signup", json={"username": "secretive", "email": "s@x.io", "password": "correct-horse-7"}
            )
        ).text()
    )
    texts.append(await (await api.client.get("/my-bookings/", headers=user["headers"])).text())
    show = await api.show(total_seats=2)
    texts.append(await (await api.book(show["id"], 1, user["headers"])).text())
    for body in texts:
        assert "$2b$" not in body and "correct-horse-7" not in body
    assert "$2b$" not in caplog.text
    assert "correct-horse-7" not in caplog.text
    assert user["tokens"]["access"] not in caplog.text


async def test_unexpected_errors_are_json_500_without_trace(aiohttp_client: Any, settings: Settings) -> None:
    app = create_app(settings)

    async def boom(_: Any) -> Any:
        raise RuntimeError("internal detail that must not leak")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    response = await client.get("/boom")
    assert response.status == 500
    body = await response.text()
    assert "internal detail" not in body and "Traceback" not in body
    assert (await response.json())["detail"] == "Internal server error."


async def test_restart_keeps_rate_limits_per_process(settings: Settings) -> None:
    """Limits live in memory: a fresh process starts with clean counters (documented, not persisted)."""
    async with TestClient(TestServer(create_app(replace(settings, login_attempts_per_address=1)))) as client:
        assert (await client.post("/login", json={"username": "a", "password": "whatever1"})).status == 401
        assert (await client.post("/login", json={"username": "a", "password": "whatever1"})).status == 429
    async with TestClient(TestServer(create_app(replace(settings, login_attempts_per_address=1)))) as client:
        assert (await client.post("/login", json={"username": "a", "password": "whatever1"})).status == 401
