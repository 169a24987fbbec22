"""The API behind the door and kiosk pages, through real HTTP on both backends: the programme of a day, one show
with its film, the door's running count, a scanner's double read answered as the same admission, a ticket at the
wrong door named, and the trailing-slash hint naming a method that works."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import Api
from tests.test_box_office import get, post, screen_show, staff
from web.app import create_app
from web.settings import Settings


def at(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


async def test_one_show_as_the_programme_lists_it(api: Api) -> None:
    soon = await screen_show(api, at(45).isoformat())
    ann = await api.user()
    assert (await post(api, f"/shows/{soon['show']['id']}/book/", {"seat_numbers": [1, 2]}, ann["headers"]))[0] == 201
    status, one = await get(api, f"/shows/{soon['show']['id']}/")
    assert status == 200, one
    assert one["movie"] == soon["movie"] and one["screen_name"] == soon["screen"]["name"]
    assert one["screen_id"] == soon["screen"]["id"] and one["total_seats"] == 8 and one["available_seats"] == 6
    starts = datetime.fromisoformat(one["date_time"])
    assert datetime.fromisoformat(one["ends_at"]) - starts == timedelta(minutes=100)  # the film's duration
    day = await (await api.client.get("/shows/", params={"date": one["local_date"]})).json()
    assert one in day["results"]  # the same entry as the day's programme
    status, missing = await get(api, "/shows/999999/")
    assert status == 404 and missing["code"] == "unknown_show"


async def test_the_door_counts_and_a_double_read_is_the_same_admission(aiohttp_client: Any, settings: Settings) -> None:
    api = Api(await aiohttp_client(create_app(replace(settings, door_rescan_seconds=1.0))))
    setup = await screen_show(api, at(45).isoformat())  # the door is open
    other = await screen_show(api, at(50).isoformat())
    show_id = setup["show"]["id"]
    ann, door, second_door = await api.user(), await staff(api), await staff(api)

    status, count = await get(api, f"/check-in/?show_id={show_id}", door["headers"])
    assert status == 200, count
    assert (count["sold"], count["admitted"]) == (0, 0) and count["show"]["movie"]["title"] == "Film"
    opens, starts = datetime.fromisoformat(count["opens_at"]), datetime.fromisoformat(count["show"]["date_time"])
    assert starts - opens == timedelta(minutes=60)
    assert datetime.fromisoformat(count["closes_at"]) - starts == timedelta(minutes=100)  # the film's end
    assert (await get(api, f"/check-in/?show_id={show_id}", ann["headers"]))[0] == 403
    assert (await get(api, f"/check-in/?show_id={show_id}"))[0] == 401
    status, unnamed = await get(api, "/check-in/", door["headers"])
    assert status == 400 and unnamed["code"] == "invalid_query" and "show_id" in unnamed["detail"]
    assert (await get(api, "/check-in/?show_id=999999", door["headers"]))[1]["code"] == "unknown_show"

    status, booked = await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [3, 4]}, ann["headers"])
    first, second = (b["ticket"] for b in booked["bookings"])
    scan = {"code": first, "show_id": show_id}
    response = await api.client.post("/check-in/", json=scan, headers=door["headers"])
    admitted = await response.json()
    assert response.status == 200 and "Idempotent-Replayed" not in response.headers
    # the scanner reads the same code again at once: the same admission, said so in a header
    response = await api.client.post("/check-in/", json=scan, headers=door["headers"])
    assert response.status == 200 and response.headers["Idempotent-Replayed"] == "true"
    assert await response.json() == admitted
    # another scanner at the same moment is told the truth: it was used
    status, used = await post(api, "/check-in/", scan, second_door["headers"])
    assert status == 409 and used["code"] == "already_checked_in"
    assert (await get(api, f"/check-in/?show_id={show_id}", door["headers"]))[1] | {"show": None} == {
        **count,
        "show": None,
        "sold": 2,
        "admitted": 1,
    }
    # a retried request with its Idempotency-Key answers what it first answered, however late
    keyed = {**door["headers"], "Idempotency-Key": "scan-1"}
    response = await api.client.post("/check-in/", json={"code": second, "show_id": show_id}, headers=keyed)
    first_answer = await response.json()
    assert response.status == 200
    await asyncio.sleep(1.2)  # past the re-scan window
    status, late = await post(api, "/check-in/", scan, door["headers"])
    assert status == 409 and late["first_checked_in_at"] == admitted["checked_in_at"]
    response = await api.client.post("/check-in/", json={"code": second, "show_id": show_id}, headers=keyed)
    assert response.status == 200 and await response.json() == first_answer
    assert response.headers["Idempotent-Replayed"] == "true"

    # a genuine ticket at the wrong door says which show it is for; a forged one stays unknown
    status, elsewhere = await post(api, f"/shows/{other['show']['id']}/book/", {"seat_number": 1}, ann["headers"])
    status, wrong = await post(api, "/check-in/", {"code": elsewhere["ticket"], "show_id": show_id}, door["headers"])
    assert status == 404 and wrong["code"] == "wrong_show" and wrong["show"]["id"] == other["show"]["id"]
    assert other["screen"]["name"] in wrong["detail"]
    booking_id, tag = first.split("-")
    forged = f"{int(booking_id) + 100}-{tag}"
    status, unknown = await post(api, "/check-in/", {"code": forged, "show_id": show_id}, door["headers"])
    assert status == 404 and unknown["code"] == "unknown_ticket"


async def test_the_rescan_window_is_the_scanners_own_and_survives_a_restart(settings: Settings) -> None:
    """The window is decided from the database (who scanned, when), not from one process's memory."""
    async with TestClient(TestServer(create_app(settings))) as client:
        api = Api(client)
        setup = await screen_show(api, at(45).isoformat())
        show_id = setup["show"]["id"]
        ann, door = await api.user(), await staff(api)
        _, booking = await post(api, f"/shows/{show_id}/book/", {"seat_number": 1}, ann["headers"])
        scan = {"code": booking["ticket"], "show_id": show_id}
        assert (await post(api, "/check-in/", scan, door["headers"]))[0] == 200
    async with TestClient(TestServer(create_app(settings))) as client:
        response = await client.post("/check-in/", json=scan, headers=door["headers"])
        assert response.status == 200 and response.headers["Idempotent-Replayed"] == "true"


async def test_a_trailing_slash_hint_names_a_method_the_path_answers(api: Api) -> None:
    show = await api.show(total_seats=5)
    door_hint = await (await api.client.get("/check-in")).json()
    assert door_hint["hint"] == "/check-in/" and "GET /check-in/" in door_hint["detail"]  # which now answers
    post_hint = await (await api.client.post("/check-in", json={})).json()
    assert "POST /check-in/" in post_hint["detail"]
    book_hint = await (await api.client.get(f"/shows/{show['id']}/book")).json()
    assert book_hint["hint"] == f"/shows/{show['id']}/book/"
    assert f"POST /shows/{show['id']}/book/" in book_hint["detail"]  # GET there would be a 405
