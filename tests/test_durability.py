"""Confirmed means durable: restarts keep bookings, failed commits confirm nothing, commits are grouped."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from engine.seats import Outcome
from engine.service import BookingEngine
from storage.database import open_engine
from storage.journal import GroupCommitJournal
from storage.repository import Repository
from tests.conftest import Api
from tests.test_concurrency import assert_invariants, stored_bookings
from web.app import create_app
from web.settings import Settings


async def test_booking_survives_restart(api: Api, settings: Settings, database_url: str) -> None:
    show = await api.show(total_seats=3)
    user = await api.user("restart-user")
    kept = await (await api.book(show["id"], 2, user["headers"])).json()
    dropped = await (await api.book(show["id"], 3, user["headers"])).json()
    assert (await api.client.post(f"/bookings/{dropped['id']}/cancel/", headers=user["headers"])).status == 200
    await api.client.close()  # runs the app's shutdown: actors drain, the journal commits its last batch

    async with TestClient(TestServer(create_app(settings))) as client:
        again = Api(client)
        taken = await again.book(show["id"], 2, user["headers"])
        assert taken.status == 409
        mine = await (await client.get("/my-bookings/", headers=user["headers"])).json()
        assert {(b["id"], b["status"]) for b in mine} == {(kept["id"], "booked"), (dropped["id"], "cancelled")}
        assert (await again.book(show["id"], 3, user["headers"])).status == 201  # the cancelled seat is free
        # the rebuilt actor knows the old booking's id, so its owner can still cancel it
        assert (await client.post(f"/bookings/{kept['id']}/cancel/", headers=user["headers"])).status == 200


async def install_fault(url: str, on: str) -> None:
    """A real failure inside the database: a trigger that aborts every insert or update of bookings."""
    engine = open_engine(url)
    event = "INSERT" if on == "insert" else "UPDATE"
    try:
        async with engine.begin() as conn:
            if url.startswith("sqlite"):
                await conn.execute(
                    text(f"CREATE TRIGGER fault BEFORE {event} ON bookings BEGIN SELECT RAISE(ABORT, 'injected'); END")
                )
            else:
                await conn.execute(
                    text(
                        "CREATE OR REPLACE FUNCTION fault() RETURNS trigger AS "
                        "$$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql"
                    )
                )
                await conn.execute(
                    text(f"CREATE TRIGGER fault BEFORE {event} ON bookings FOR EACH ROW EXECUTE FUNCTION fault()")
                )
    finally:
        await engine.dispose()


async def remove_fault(url: str) -> None:
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("DROP TRIGGER fault" if url.startswith("sqlite") else "DROP TRIGGER fault ON bookings")
            )
    finally:
        await engine.dispose()


async def test_failed_commit_confirms_nothing_and_recovers(api: Api, database_url: str) -> None:
    show = await api.show(total_seats=30)
    users = await asyncio.gather(*(api.user() for _ in range(5)))
    first = await api.book(show["id"], 1, users[0]["headers"])
    assert first.status == 201

    await install_fault(database_url, "insert")
    results = await asyncio.gather(*(api.book(show["id"], seat, users[seat % 5]["headers"]) for seat in range(2, 22)))
    assert Counter(r.status for r in results) == {503: 20}
    for response in results:
        assert (await response.json())["detail"] and response.headers["Retry-After"] == "1"
    assert [row[1] for row in await stored_bookings(database_url, show["id"])] == [1]

    await remove_fault(database_url)
    # the actor dropped its optimistic seats and reloaded what is on disk
    results = await asyncio.gather(*(api.book(show["id"], seat, users[0]["headers"]) for seat in range(1, 22)))
    assert Counter(r.status for r in results) == {201: 20, 409: 1}
    assert len(assert_invariants(await stored_bookings(database_url, show["id"]), 30)) == 21


async def test_failed_cancel_keeps_the_booking(api: Api, database_url: str) -> None:
    show = await api.show(total_seats=2)
    ann, bob = await api.user(), await api.user()
    booking = await (await api.book(show["id"], 1, ann["headers"])).json()
    await install_fault(database_url, "update")
    response = await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=ann["headers"])
    assert response.status == 503
    assert (await api.book(show["id"], 1, bob["headers"])).status == 409  # still Ann's: the cancel was not saved
    await remove_fault(database_url)
    assert (await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=ann["headers"])).status == 200
    assert (await api.book(show["id"], 1, bob["headers"])).status == 201


async def test_group_commit_batches_a_rush(api: Api, database_url: str) -> None:
    """1,000 bookings decided at once cost a handful of transactions, not 1,000."""
    shows = [await api.show(total_seats=500) for _ in range(2)]
    user = await api.user()
    engine = open_engine(database_url)
    journal = GroupCommitJournal(engine, max_batch=500)
    journal.start()
    booking = BookingEngine(Repository(engine), journal)
    try:
        replies = await asyncio.gather(
            *(booking.book(show["id"], user["id"], seat) for show in shows for seat in range(1, 501))
        )
        assert Counter(r.outcome for r in replies) == {Outcome.BOOKED: 1000}
        assert journal.stats.records == 1000
        assert journal.stats.batches <= 10, journal.stats
        assert journal.stats.largest_batch >= 100
    finally:
        await booking.close()
        await journal.close()
        await engine.dispose()
    for show in shows:
        assert len(assert_invariants(await stored_bookings(database_url, show["id"]), 500)) == 500
    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            ops: Any = dict((await conn.execute(text("SELECT op, count(*) FROM seat_journal GROUP BY op"))).all())
    finally:
        await engine.dispose()
    assert ops == {"book": 1000}
