"""CORS (CINEMA_CORS_ORIGINS) on both databases: preflights, allow headers on every answer to a listed origin
(errors included), none for any other origin, and the OpenAPI document unchanged. A real browser on another
origin: tests/test_cors_browser.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import Api
from web.app import create_app
from web.http.cors import parse
from web.settings import Settings

APP_ORIGIN = "http://localhost:3000"


def test_origins_are_checked_and_written_as_browsers_send_them() -> None:
    assert parse(["https://Tickets.Example:443", " http://localhost:3000 ", "", "http://[::1]:8080/"]) == (
        "https://tickets.example",
        "http://localhost:3000",
        "http://[::1]:8080",
    )
    for bad in ("*", "localhost:3000", "https://app.example/path", "ftp://app.example", "https://u@app.example"):
        with pytest.raises(ValueError, match="CINEMA_CORS_ORIGINS"):
            parse([bad])


@pytest.fixture
async def cors_api(aiohttp_client: Any, settings: Settings) -> Api:
    app = create_app(replace(settings, cors_origins=(APP_ORIGIN, "https://other.example")))
    return Api(await aiohttp_client(app))


async def test_a_preflight_from_a_listed_origin_is_answered(cors_api: Api) -> None:
    asked = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, x-request-id",
    }
    answer = await cors_api.client.options("/shows/1/book/", headers=asked)
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert {m.strip() for m in answer.headers["Access-Control-Allow-Methods"].split(",")} >= {"GET", "POST", "DELETE"}
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed >= {"authorization", "content-type", "idempotency-key", "x-request-id"}
    assert int(answer.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in answer.headers  # bearer tokens, never cookies


async def test_other_origins_get_no_allow_header(cors_api: Api) -> None:
    asked = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    preflight = await cors_api.client.options("/shows/1/book/", headers=asked)
    assert preflight.status == 405 and "Access-Control-Allow-Origin" not in preflight.headers
    assert (await preflight.json())["code"] == "method_not_allowed"
    listing = await cors_api.client.get("/movies/", headers={"Origin": "http://evil.example"})
    assert listing.status == 200 and "Access-Control-Allow-Origin" not in listing.headers
    assert "Origin" in listing.headers["Vary"]  # a cache must not hand one origin's answer to another


async def test_every_answer_to_a_listed_origin_says_so_errors_included(cors_api: Api) -> None:
    show = await cors_api.show(total_seats=5)
    user = await cors_api.user()
    headers = {**user["headers"], "Origin": APP_ORIGIN}
    booked = await cors_api.client.post(f"/shows/{show['id']}/book/", json={"seat_number": 1}, headers=headers)
    assert booked.status == 201
    taken = await cors_api.client.post(f"/shows/{show['id']}/book/", json={"seat_number": 1}, headers=headers)
    assert taken.status == 409 and (await taken.json())["code"] == "seat_taken"
    missing = await cors_api.client.get("/no-such-route", headers={"Origin": APP_ORIGIN})
    bad = await cors_api.client.post(
        "/login", data=b"{", headers={"Origin": APP_ORIGIN, "Content-Type": "application/json"}
    )
    for answer in (booked, taken, missing, bad):
        assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN, answer
        exposed = {h.strip() for h in answer.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"Retry-After", "X-Request-ID"} <= exposed
        assert answer.headers["X-Request-ID"]
    assert missing.status == 404 and bad.status == 400


async def test_the_openapi_document_and_swagger_ui_keep_working(cors_api: Api) -> None:
    document = await cors_api.client.get("/swagger.json", headers={"Origin": APP_ORIGIN})
    assert document.status == 200 and (await document.json())["openapi"].startswith("3.")
    assert document.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    ui = await cors_api.client.get("/swagger/")
    assert ui.status == 200 and "swagger" in (await ui.text()).lower()


async def test_without_the_setting_nothing_changes(api: Api) -> None:
    preflight = await api.client.options(
        "/movies/", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status == 405
    listing = await api.client.get("/movies/", headers={"Origin": APP_ORIGIN})
    assert "Access-Control-Allow-Origin" not in listing.headers and "Vary" not in listing.headers
