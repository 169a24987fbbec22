"""One mistake, one answer: the error catalogue, its codes everywhere, and the answers a newcomer meets first."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from web.context import REPOSITORY
from web.http.errors import CATALOGUE, THROTTLE

ROOT = Path(__file__).resolve().parent.parent


def codes_used_in_source() -> set[str]:
    """Every code a handler names: fail("..."), unauthorized("..."), unavailable("..."), code="..."."""
    pattern = re.compile(r'(?:\b(?:fail|unauthorized)\(\s*|\bcode=|"code":\s*)"([a-z_]+)"')
    return {code for path in (ROOT / "web").rglob("*.py") for code in pattern.findall(path.read_text())}


def test_every_code_the_handlers_use_is_in_the_catalogue() -> None:
    used = codes_used_in_source()
    assert len(used) > 20
    assert used <= set(CATALOGUE), used - set(CATALOGUE)
    assert all(400 <= entry.status <= 599 and entry.message for entry in CATALOGUE.values())


async def test_the_catalogue_is_in_the_openapi_document(api: Api) -> None:
    document = await (await api.client.get("/swagger.json")).json()
    description = document["info"]["description"]
    for code, entry in CATALOGUE.items():
        assert f"| `{code}` | {entry.status} |" in description, code
    assert document["components"]["schemas"]["Error"]["properties"]["code"]["enum"] == list(CATALOGUE)


def test_the_catalogue_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", readme, re.MULTILINE))
    assert rows == {code: str(entry.status) for code, entry in CATALOGUE.items()}


async def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["code"] == code and body["detail"], body
    return body


@pytest.mark.parametrize("seat", [0, -3, 101])
async def test_a_seat_outside_the_show_gets_one_answer_naming_the_capacity(api: Api, seat: int) -> None:
    show = await api.show(total_seats=100)
    user = await api.user()
    answers = [
        await api.book(show["id"], seat, user["headers"]),
        await api.client.post(f"/shows/{show['id']}/book/", json={"seat_numbers": [5, seat]}, headers=user["headers"]),
        await api.client.post(f"/shows/{show['id']}/hold/", json={"seat_numbers": [seat]}, headers=user["headers"]),
    ]
    for response in answers:
        body = await error(response, 400, "seat_out_of_range")
        assert body == {
            "detail": f"Seat {seat} is not in this show: its seats are 1 to 100.",
            "code": "seat_out_of_range",
            "seats": [seat],
            "total_seats": 100,
        }
    admin = await api.admin()
    blocked = await api.client.post(
        f"/shows/{show['id']}/block/", json={"seat_numbers": [seat]}, headers=admin["headers"]
    )
    assert await blocked.json() == body and blocked.status == 400


async def test_a_strangers_booking_looks_exactly_like_a_missing_one(api: Api) -> None:
    show = await api.show(total_seats=5)
    owner, stranger = await api.user(), await api.user()
    booking = await (await api.book(show["id"], 2, owner["headers"])).json()
    theirs = await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=stranger["headers"])
    missing = await api.client.post(f"/bookings/{booking['id'] + 1000}/cancel/", headers=stranger["headers"])
    assert (theirs.status, await theirs.json()) == (missing.status, await missing.json())
    assert await theirs.json() == {"detail": "Booking not found.", "code": "unknown_booking"}
    assert (await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=owner["headers"])).status == 200
    again = await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=stranger["headers"])
    assert (again.status, await again.json()) == (404, await theirs.json())  # cancelled or not: nothing shows

    hold = await api.client.post(f"/shows/{show['id']}/hold/", json={"seat_numbers": [4]}, headers=owner["headers"])
    hold_id = (await hold.json())["hold_id"]
    for method, path in (("POST", f"/holds/{hold_id}/confirm/"), ("DELETE", f"/holds/{hold_id}/")):
        theirs = await api.client.request(method, path, headers=stranger["headers"])
        missing = await api.client.request(method, path.replace(hold_id, "0" * 32), headers=stranger["headers"])
        assert (theirs.status, await theirs.json()) == (missing.status, await missing.json())
        assert (await theirs.json())["code"] == "unknown_hold"


async def test_every_404_has_a_code(api: Api) -> None:
    user = await api.user()
    await error(await api.client.get("/movies/999/shows/"), 404, "unknown_movie")
    await error(await api.book(999, 1, user["headers"]), 404, "unknown_show")
    await error(await api.client.get("/shows/999/seats/"), 404, "unknown_show")
    await error(await api.client.get("/movies/?page=99"), 404, "invalid_page")
    await error(await api.client.get("/no/such/thing"), 404, "not_found")
    await error(await api.client.get("/movies/99999999999/shows/"), 404, "not_found")
    await error(await api.client.delete("/movies/"), 405, "method_not_allowed")


async def test_a_missing_trailing_slash_gets_a_hint(api: Api) -> None:
    show = await api.show(total_seats=5)
    user = await api.user()
    body = await error(await api.client.post(f"/shows/{show['id']}/book", json={"seat_number": 1}), 404, "not_found")
    assert body["hint"] == f"/shows/{show['id']}/book/"
    assert f"POST /shows/{show['id']}/book/" in body["detail"] and "trailing slash" in body["detail"]
    assert (await error(await api.client.get("/movies"), 404, "not_found"))["hint"] == "/movies/"
    assert (await error(await api.client.post("/login/", json={}), 404, "not_found"))["hint"] == "/login"
    assert "hint" not in await error(await api.client.get("/nothing"), 404, "not_found")
    assert (await api.book(show["id"], 1, user["headers"])).status == 201  # the hinted path works


async def test_an_empty_bearer_token_says_so(api: Api) -> None:
    show = await api.show(total_seats=5)
    for header, code in (("Bearer ", "empty_token"), ("Token abc", "bad_authorization_header"), ("", "")):
        headers = {"Authorization": header} if header else {}
        response = await api.client.post(f"/shows/{show['id']}/book/", json={"seat_number": 1}, headers=headers)
        await error(response, 401, code or "not_authenticated")


async def test_the_root_says_where_things_are(api: Api) -> None:
    response = await api.client.get("/")
    assert response.status == 200
    assert (await response.json())["docs"] == "/swagger/"


async def test_available_seats_counts_held_and_blocked_seats_as_the_seat_map_does(api: Api) -> None:
    show = await api.show(total_seats=10)
    user, admin = await api.user(), await api.admin()

    async def both() -> tuple[int, int]:
        listing = await (await api.client.get(f"/movies/{show['movie']}/shows/")).json()
        seat_map = await (await api.client.get(f"/shows/{show['id']}/seats/")).json()
        free = seat_map["total_seats"] - len(seat_map["booked"]) - len(seat_map["held"]) - len(seat_map["blocked"])
        return listing["shows"][0]["available_seats"], free

    assert await both() == (10, 10)
    assert (await api.book(show["id"], 1, user["headers"])).status == 201
    hold = await api.client.post(f"/shows/{show['id']}/hold/", json={"seat_numbers": [2, 3]}, headers=user["headers"])
    assert hold.status == 201
    blocked = await api.client.post(f"/shows/{show['id']}/block/", json={"seat_numbers": [9]}, headers=admin["headers"])
    assert blocked.status == 200
    assert await both() == (6, 6)


async def test_the_database_count_agrees_when_the_show_is_not_in_memory(api: Api, settings: Any) -> None:
    """A restarted service answers from the database until the show's actor loads: the same number."""
    show = await api.show(total_seats=10)
    user, admin = await api.user(), await api.admin()
    await api.book(show["id"], 1, user["headers"])
    await api.client.post(f"/shows/{show['id']}/hold/", json={"seat_numbers": [2, 3]}, headers=user["headers"])
    await api.client.post(f"/shows/{show['id']}/block/", json={"seat_numbers": [9]}, headers=admin["headers"])
    rows = await api.app[REPOSITORY].shows_of_movie(show["movie"])
    assert [(row.show.id, row.taken) for row in rows] == [(show["id"], 4)]


async def test_refusals_and_lockouts_are_logged_once_per_kind(api: Api, caplog: Any) -> None:
    show = await api.show(total_seats=1)
    user = await api.user()
    caplog.set_level(logging.INFO, logger="cinema.errors")
    THROTTLE.forget()
    for _ in range(5):
        await api.book(show["id"], 5, user["headers"])
    refused = [r for r in caplog.records if r.name == "cinema.errors" and r.getMessage() == "refused"]
    assert len(refused) == 1 and refused[0].fields["code"] == "seat_out_of_range"  # type: ignore[attr-defined]
    for _ in range(12):
        await api.client.post("/login", json={"username": user["username"], "password": "wrong-password"})
    locked = [r for r in caplog.records if r.getMessage() == "login locked out"]
    assert len(locked) == 1 and locked[0].levelno == logging.WARNING
