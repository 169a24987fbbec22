"""Seat rushes through real HTTP: hundreds of requests in flight at once, then the database is checked."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from sqlalchemy import text

from storage.database import open_engine
from tests.conftest import Api
from web.context import JOURNAL


async def stored_bookings(url: str, show_id: int) -> list[tuple[int, int, int, str]]:
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id, seat_number, user_id, status FROM bookings WHERE show_id = :s"), {"s": show_id}
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        await engine.dispose()


def assert_invariants(rows: list[tuple[int, int, int, str]], total_seats: int) -> list[int]:
    live = [seat for _, seat, _, status in rows if status == "booked"]
    assert len(live) == len(set(live)), f"seats booked twice: {[s for s, n in Counter(live).items() if n > 1]}"
    assert len(live) <= total_seats
    assert all(1 <= seat <= total_seats for seat in live)
    return live


async def test_rush_2000_requests_50_users_100_seats(api: Api, database_url: str) -> None:
    show = await api.show(total_seats=100)
    users = await asyncio.gather(*(api.user() for _ in range(50)))
    plan = [(users[i % 50], (i * 37) % 100 + 1) for i in range(2000)]  # every seat wanted 20 times
    random.Random(7).shuffle(plan)

    async def attempt(user: dict[str, Any], seat: int) -> tuple[int, dict[str, Any]]:
        response = await api.book(show["id"], seat, user["headers"])
        return response.status, await response.json()

    results = await asyncio.gather(*(attempt(user, seat) for user, seat in plan))
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 100, 409: 1900}, statuses
    confirmed = {body["id"]: body["seat_number"] for status, body in results if status == 201}
    assert sorted(confirmed.values()) == list(range(1, 101))
    rows = await stored_bookings(database_url, show["id"])
    live = assert_invariants(rows, 100)
    assert len(live) == 100
    assert {row[0]: row[1] for row in rows if row[3] == "booked"} == confirmed
    stats = api.app[JOURNAL].stats
    assert stats.records == 100 + 0 and stats.failed_batches == 0
    shows = await (await api.client.get(f"/movies/{show['movie']}/shows/")).json()
    assert shows["shows"][0]["available_seats"] == 0


async def test_cancel_and_rebook_storm(api: Api, database_url: str) -> None:
    total = 60
    show = await api.show(total_seats=total)
    users = await asyncio.gather(*(api.user() for _ in range(20)))
    rng = random.Random(11)
    confirmed: dict[int, int] = {}  # booking id -> owner index, for every 201
    cancelled: set[int] = set()  # booking ids answered 200

    async def book(owner: int, seat: int) -> None:
        response = await api.book(show["id"], seat, users[owner]["headers"])
        assert response.status in (201, 409), await response.text()
        if response.status == 201:
            confirmed[(await response.json())["id"]] = owner

    async def cancel(booking_id: int) -> None:
        owner = confirmed[booking_id]
        response = await api.client.post(f"/bookings/{booking_id}/cancel/", headers=users[owner]["headers"])
        assert response.status in (200, 409), await response.text()
        if response.status == 200:
            cancelled.add(booking_id)

    for _ in range(5):
        live = [b for b in confirmed if b not in cancelled]
        work = [cancel(b) for b in rng.sample(live, min(len(live), 25))]
        work += [book(rng.randrange(20), rng.randint(1, total)) for _ in range(200)]
        rng.shuffle(work)
        await asyncio.gather(*work)

    rows = await stored_bookings(database_url, show["id"])
    assert_invariants(rows, total)
    status = {row[0]: row[3] for row in rows}
    assert set(status) == set(confirmed), "every confirmed booking is stored, and nothing else"
    for booking_id in confirmed:
        assert status[booking_id] == ("cancelled" if booking_id in cancelled else "booked"), booking_id
    assert api.app[JOURNAL].stats.failed_batches == 0


async def test_many_shows_at_once(api: Api, database_url: str) -> None:
    shows = [await api.show(total_seats=5) for _ in range(8)]
    user = await api.user()
    results = await asyncio.gather(
        *(api.book(show["id"], seat, user["headers"]) for show in shows for seat in range(1, 7) for _ in range(3))
    )
    assert Counter(r.status for r in results) == {201: 40, 400: 8 * 3, 409: 8 * 3 * 5 - 40}
    for show in shows:
        assert len(assert_invariants(await stored_bookings(database_url, show["id"]), 5)) == 5
