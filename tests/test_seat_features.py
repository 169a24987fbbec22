"""Beyond the seed: layouts and the seat map, multi-seat booking, holds with expiry, blocked seats, best
available and idempotency keys, through real HTTP on both backends."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from storage.database import open_engine
from tests.conftest import Api
from tests.test_concurrency import assert_invariants, stored_bookings
from web.app import create_app
from web.settings import Settings


async def layout_show(api: Api, rows: list[tuple[str, int]]) -> dict[str, Any]:
    admin = await api.admin()
    movie = await (
        await api.client.post("/movies/", json={"title": "Layout", "duration_minutes": 100}, headers=admin["headers"])
    ).json()
    response = await api.client.post(
        f"/movies/{movie['id']}/shows/",
        json={
            "screen_name": "Main",
            "date_time": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "rows": [{"label": label, "seats": seats} for label, seats in rows],
        },
        headers=admin["headers"],
    )
    assert response.status == 201, await response.text()
    return {**(await response.json()), "admin": admin}


async def seat_map(api: Api, show_id: int) -> dict[str, Any]:
    response = await api.client.get(f"/shows/{show_id}/seats/")
    assert response.status == 200
    return await response.json()


async def post(api: Api, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    response = await api.client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def test_layout_and_seat_map(api: Api) -> None:
    show = await layout_show(api, [("A", 4), ("B", 6)])
    assert show["total_seats"] == 10
    user = await api.user()
    await post(api, f"/shows/{show['id']}/book/", {"seat_number": 5}, user["headers"])
    body = await seat_map(api, show["id"])
    assert body["rows"] == [{"label": "A", "first_seat": 1, "seats": 4}, {"label": "B", "first_seat": 5, "seats": 6}]
    assert body["booked"] == [5] and body["held"] == [] and body["blocked"] == []
    bad = await api.client.post(
        f"/movies/{show['movie']}/shows/",
        json={
            "screen_name": "X",
            "date_time": "2030-01-01T10:00:00Z",
            "rows": [{"label": "A", "seats": 2}],
            "total_seats": 3,
        },
        headers=show["admin"]["headers"],
    )
    assert bad.status == 400


async def test_multi_seat_booking_is_all_or_none(api: Api, database_url: str) -> None:
    show = await api.show(total_seats=10)
    ann, bob = await api.user(), await api.user()
    status, body = await post(api, f"/shows/{show['id']}/book/", {"seat_numbers": [1, 2, 3]}, ann["headers"])
    assert status == 201 and [b["seat_number"] for b in body["bookings"]] == [1, 2, 3]
    assert {b["user"] for b in body["bookings"]} == {ann["id"]}
    status, body = await post(api, f"/shows/{show['id']}/book/", {"seat_numbers": [3, 4, 2]}, bob["headers"])
    assert status == 409 and body["seats"] == [3, 2] and body["code"] == "seats_unavailable"
    assert (await seat_map(api, show["id"]))["booked"] == [1, 2, 3]  # seat 4 was not taken either
    for bad in (
        {"seat_numbers": []},
        {"seat_numbers": [1, 1]},
        {"seat_numbers": list(range(1, 12))},
        {"seat_numbers": [0]},
        {"seat_number": 1, "count": 2},
    ):
        status, _ = await post(api, f"/shows/{show['id']}/book/", bad, bob["headers"])
        assert status == 400, bad
    status, _ = await post(api, f"/shows/{show['id']}/book/", {"seat_numbers": [9, 11]}, bob["headers"])
    assert status == 400
    assert len(assert_invariants(await stored_bookings(database_url, show["id"]), 10)) == 3


async def test_hold_confirm_release(api: Api, database_url: str) -> None:
    show = await api.show(total_seats=10)
    ann, bob = await api.user(), await api.user()
    status, hold = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [5, 6]}, ann["headers"])
    assert status == 201 and hold["seat_numbers"] == [5, 6] and len(hold["hold_id"]) == 32
    assert datetime.fromisoformat(hold["expires_at"]) > datetime.now(UTC) + timedelta(minutes=4)
    assert (await seat_map(api, show["id"]))["held"] == [5, 6]
    assert (await post(api, f"/shows/{show['id']}/book/", {"seat_number": 5}, bob["headers"]))[0] == 409
    status, body = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [6, 7]}, bob["headers"])
    assert status == 409 and body["seats"] == [6]
    assert (await post(api, f"/holds/{hold['hold_id']}/confirm/", None, bob["headers"]))[0] == 404  # not Bob's
    status, body = await post(api, f"/holds/{hold['hold_id']}/confirm/", None, ann["headers"])
    assert status == 201 and [b["seat_number"] for b in body["bookings"]] == [5, 6]
    view = await seat_map(api, show["id"])
    assert view["booked"] == [5, 6] and view["held"] == []
    assert (await post(api, f"/holds/{hold['hold_id']}/confirm/", None, ann["headers"]))[0] == 404
    status, hold = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [7]}, bob["headers"])
    released = await api.client.delete(f"/holds/{hold['hold_id']}/", headers=bob["headers"])
    assert released.status == 200
    assert (await seat_map(api, show["id"]))["held"] == []
    assert (await post(api, f"/shows/{show['id']}/book/", {"seat_number": 7}, ann["headers"]))[0] == 201
    assert (await api.client.delete(f"/holds/{'0' * 32}/", headers=bob["headers"])).status == 404
    assert len(assert_invariants(await stored_bookings(database_url, show["id"]), 10)) == 3


async def test_two_users_holding_overlapping_seats_at_once(api: Api) -> None:
    show = await api.show(total_seats=20)
    users = await asyncio.gather(*(api.user() for _ in range(10)))
    results = await asyncio.gather(
        *(post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [4, 5, 6]}, u["headers"]) for u in users)
    )
    assert Counter(status for status, _ in results) == {201: 1, 409: 9}
    assert (await seat_map(api, show["id"]))["held"] == [4, 5, 6]


async def test_holds_expire_by_the_shows_own_timer(aiohttp_client: Any, settings: Settings, database_url: str) -> None:
    api = Api(await aiohttp_client(create_app(replace(settings, hold_seconds=0.3))))
    show = await api.show(total_seats=10)
    ann = await api.user()
    status, hold = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [1, 2]}, ann["headers"])
    assert status == 201
    async with api.client.ws_connect(f"/shows/{show['id']}/events") as ws:
        snapshot = await ws.receive_json()
        assert snapshot["held"] == [1, 2]
        released = [await ws.receive_json(timeout=5), await ws.receive_json(timeout=5)]
    assert [(e["type"], e["seat"]) for e in released] == [("released", 1), ("released", 2)]
    status, _ = await post(api, f"/holds/{hold['hold_id']}/confirm/", None, ann["headers"])
    assert status in (404, 409)
    assert (await seat_map(api, show["id"]))["held"] == []
    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            state = (
                await conn.execute(text("SELECT status FROM holds WHERE id = :h"), {"h": hold["hold_id"]})
            ).scalar()
    finally:
        await engine.dispose()
    assert state == "expired"


async def test_hold_expiring_while_being_confirmed(aiohttp_client: Any, settings: Settings, database_url: str) -> None:
    api = Api(await aiohttp_client(create_app(replace(settings, hold_seconds=0.15))))
    show = await api.show(total_seats=40)
    user = await api.user()
    outcomes = Counter()
    for round_ in range(10):
        seats = [2 * round_ + 1, 2 * round_ + 2]
        status, hold = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": seats}, user["headers"])
        assert status == 201
        await asyncio.sleep(random.Random(round_).uniform(0.05, 0.25))
        status, _ = await post(api, f"/holds/{hold['hold_id']}/confirm/", None, user["headers"])
        outcomes[status] += 1
        await asyncio.sleep(0.3)  # let any expiry land
        view = await seat_map(api, show["id"])
        if status == 201:
            assert set(seats) <= set(view["booked"])
        else:
            assert status in (404, 409) and not set(seats) & set(view["booked"] + view["held"])
    assert set(outcomes) <= {201, 404, 409}
    rows = await stored_bookings(database_url, show["id"])
    assert len(assert_invariants(rows, 40)) == 2 * outcomes[201]


async def test_hold_expiry_survives_a_restart(settings: Settings, database_url: str) -> None:
    short = replace(settings, hold_seconds=0.5)
    async with TestClient(TestServer(create_app(short))) as client:
        api = Api(client)
        show = await api.show(total_seats=5)
        user = await api.user()
        status, _ = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [3]}, user["headers"])
        assert status == 201
    await asyncio.sleep(0.8)  # it expires while the service is down
    async with TestClient(TestServer(create_app(short))) as client:
        api = Api(client)
        view = await seat_map(api, show["id"])  # loading the show expires the overdue hold at once
        for _ in range(50):
            if not view["held"]:
                break
            await asyncio.sleep(0.05)
            view = await seat_map(api, show["id"])
        assert view["held"] == []
        assert (await post(api, f"/shows/{show['id']}/book/", {"seat_number": 3}, user["headers"]))[0] == 201


async def test_blocked_seats(api: Api) -> None:
    show = await api.show(total_seats=10)
    admin = await api.admin()
    user = await api.user()
    assert (await post(api, f"/shows/{show['id']}/book/", {"seat_number": 1}, user["headers"]))[0] == 201
    status, body = await post(api, f"/shows/{show['id']}/block/", {"seat_numbers": [8, 9]}, admin["headers"])
    assert status == 200 and body["blocked"] == [8, 9]
    assert (await post(api, f"/shows/{show['id']}/block/", {"seat_numbers": [1]}, admin["headers"]))[0] == 409
    assert (await post(api, f"/shows/{show['id']}/block/", {"seat_numbers": [2]}, user["headers"]))[0] == 403
    assert (await post(api, f"/shows/{show['id']}/book/", {"seat_number": 8}, user["headers"]))[0] == 409
    assert (await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [9]}, user["headers"]))[0] == 409
    status, body = await post(api, f"/shows/{show['id']}/unblock/", {"seat_numbers": [8]}, admin["headers"])
    assert status == 200 and body["blocked"] == [9]
    assert (await post(api, f"/shows/{show['id']}/book/", {"seat_number": 8}, user["headers"]))[0] == 201


async def test_best_available(api: Api) -> None:
    show = await layout_show(api, [("A", 4), ("B", 6), ("C", 4)])
    user = await api.user()
    status, body = await post(api, f"/shows/{show['id']}/book/", {"count": 2}, user["headers"])
    assert status == 201 and [b["seat_number"] for b in body["bookings"]] == [7, 8]  # middle of row B
    status, body = await post(api, f"/shows/{show['id']}/book/", {"count": 2}, user["headers"])
    assert status == 201 and len({b["seat_number"] for b in body["bookings"]}) == 2
    assert (await post(api, f"/shows/{show['id']}/book/", {"count": 7}, user["headers"]))[0] == 409
    plain = await api.show(total_seats=10)
    status, body = await post(api, f"/shows/{plain['id']}/book/", {"count": 2}, user["headers"])
    assert status == 409 and body["code"] == "no_adjacent_seats"


async def test_idempotency_retry_storm_books_once(api: Api, settings: Settings, database_url: str) -> None:
    show = await api.show(total_seats=10)
    user = await api.user()
    headers = {**user["headers"], "Idempotency-Key": "kiosk-42-attempt"}

    async def attempt() -> tuple[int, bytes]:
        response = await api.client.post(f"/shows/{show['id']}/book/", json={"seat_number": 4}, headers=headers)
        return response.status, await response.read()

    results = await asyncio.gather(*(attempt() for _ in range(30)))
    assert {status for status, _ in results} == {201}
    assert len({body for _, body in results}) == 1  # every retry got the first answer
    assert len(await stored_bookings(database_url, show["id"])) == 1
    other = await api.client.post(f"/shows/{show['id']}/book/", json={"seat_number": 5}, headers=headers)
    assert other.status == 422
    await api.client.close()
    async with TestClient(TestServer(create_app(settings))) as client:  # after a restart too
        again = await client.post(f"/shows/{show['id']}/book/", json={"seat_number": 4}, headers=headers)
        assert again.status == 201 and await again.read() == results[0][1]
        assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await stored_bookings(database_url, show["id"])) == 1


async def test_idempotent_cancel_hold_and_confirm(api: Api) -> None:
    show = await api.show(total_seats=10)
    user = await api.user()
    keyed = {**user["headers"], "Idempotency-Key": "hold-1"}
    first = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [2]}, keyed)
    second = await post(api, f"/shows/{show['id']}/hold/", {"seat_numbers": [2]}, keyed)
    assert first == second and first[0] == 201
    confirm_keyed = {**user["headers"], "Idempotency-Key": "confirm-1"}
    done = [await post(api, f"/holds/{first[1]['hold_id']}/confirm/", None, confirm_keyed) for _ in range(2)]
    assert done[0] == done[1] and done[0][0] == 201
    booking_id = done[0][1]["bookings"][0]["id"]
    cancel_keyed = {**user["headers"], "Idempotency-Key": "cancel-1"}
    cancels = [await post(api, f"/bookings/{booking_id}/cancel/", None, cancel_keyed) for _ in range(2)]
    assert cancels[0] == cancels[1] and cancels[0][0] == 200  # not a 409 the second time
    refused = await api.client.post(
        f"/bookings/{booking_id}/cancel/", headers={**user["headers"], "Idempotency-Key": ""}
    )
    assert refused.status in (200, 400, 409)


async def test_mixed_rush_keeps_the_invariants(aiohttp_client: Any, settings: Settings, database_url: str) -> None:
    api = Api(await aiohttp_client(create_app(replace(settings, hold_seconds=0.4))))
    total = 60
    show = await api.show(total_seats=total)
    users = await asyncio.gather(*(api.user() for _ in range(12)))
    rng = random.Random(21)
    bookings: dict[int, dict[str, str]] = {}

    async def actor(n: int) -> None:
        headers = users[n % 12]["headers"]
        for _ in range(12):
            choice = rng.random()
            if choice < 0.35:
                status, body = await post(
                    api,
                    f"/shows/{show['id']}/book/",
                    {"seat_numbers": rng.sample(range(1, total + 1), rng.randint(1, 3))},
                    headers,
                )
                if status == 201:
                    bookings.update({b["id"]: headers for b in body["bookings"]})
            elif choice < 0.65:
                status, hold = await post(
                    api, f"/shows/{show['id']}/hold/", {"seat_numbers": rng.sample(range(1, total + 1), 2)}, headers
                )
                if status == 201:
                    await asyncio.sleep(rng.uniform(0, 0.5))
                    if rng.random() < 0.6:
                        status, body = await post(api, f"/holds/{hold['hold_id']}/confirm/", None, headers)
                        if status == 201:
                            bookings.update({b["id"]: headers for b in body["bookings"]})
                    else:
                        await api.client.delete(f"/holds/{hold['hold_id']}/", headers=headers)
            elif bookings:
                booking_id = rng.choice(list(bookings))
                await api.client.post(f"/bookings/{booking_id}/cancel/", headers=bookings[booking_id])
            else:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(actor(n) for n in range(24)))
    await asyncio.sleep(0.6)  # the last holds expire
    rows = await stored_bookings(database_url, show["id"])
    live = assert_invariants(rows, total)
    view = await seat_map(api, show["id"])
    assert sorted(live) == view["booked"] and view["held"] == []
