"""A show whose stored rows contradict each other (written straight to the database, as a fence bug or a
hand edit would leave them): on load the contradiction is logged, repaired by the order of the decisions
(the earlier wins) or the show is refused with a 503 naming it; never a 500, never a seat both booked and held."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from engine.consistency import UNJOURNALED, reconcile
from engine.ports import StoredHold
from storage.database import open_engine
from tests.conftest import Api

LATER = datetime.now(UTC) + timedelta(minutes=30)


async def _write(database_url: str, statements: list[tuple[str, dict[str, Any]]]) -> None:
    engine = open_engine(database_url)
    try:
        async with engine.begin() as conn:
            for sql, values in statements:
                await conn.execute(text(sql), values)
    finally:
        await engine.dispose()


def _hold(show: int, user: int, seats: str, minutes_ago: int) -> tuple[str, tuple[str, dict[str, Any]]]:
    hold_id = uuid.uuid4().hex
    sql = (
        "INSERT INTO holds (id, show_id, user_id, seats, status, expires_at, created_at) "
        "VALUES (:id, :show, :user, :seats, 'active', :expires, :created)"
    )
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return hold_id, (
        sql,
        {"id": hold_id, "show": show, "user": user, "seats": seats, "expires": LATER, "created": created},
    )


def _booking(show: int, user: int, seat: int, minutes_ago: int) -> tuple[str, dict[str, Any]]:
    sql = (
        "INSERT INTO bookings (user_id, show_id, seat_number, status, created_at) "
        "VALUES (:user, :show, :seat, 'booked', :created)"
    )
    return sql, {
        "user": user,
        "show": show,
        "seat": seat,
        "created": datetime.now(UTC) - timedelta(minutes=minutes_ago),
    }


async def test_contradicting_rows_are_repaired_or_refused_on_load(
    api: Api, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = await api.user()
    two_holds, held_and_booked, beyond, booked_after_hold = [(await api.show(total_seats=10))["id"] for _ in range(4)]
    first, first_sql = _hold(two_holds, user["id"], "[1, 2]", minutes_ago=5)
    second, second_sql = _hold(two_holds, user["id"], "[2, 3]", minutes_ago=4)  # seat 2 held twice
    late, late_sql = _hold(held_and_booked, user["id"], "[5, 6]", minutes_ago=3)
    early, early_sql = _hold(booked_after_hold, user["id"], "[4]", minutes_ago=9)
    await _write(
        database_url,
        [
            first_sql,
            second_sql,
            _booking(held_and_booked, user["id"], 5, minutes_ago=8),  # booked before the hold on it
            late_sql,
            _booking(beyond, user["id"], 12, minutes_ago=1),  # a 10-seat show
            early_sql,
            _booking(booked_after_hold, user["id"], 4, minutes_ago=2),  # a sale on a seat held earlier
        ],
    )
    caplog.set_level(logging.WARNING)
    headers = user["headers"]

    seats = await (await api.client.get(f"/shows/{two_holds}/seats/")).json()
    assert seats["held"] == [1, 2] and seats["booked"] == []  # the earlier hold wins; seat 3 is free again
    refused = await api.client.post(f"/holds/{second}/confirm/", headers=headers)
    assert 400 <= refused.status < 500, await refused.text()
    confirmed = await api.client.post(f"/holds/{first}/confirm/", headers=headers)
    assert confirmed.status in (200, 201), await confirmed.text()
    assert (await api.book(two_holds, 3, headers)).status == 201

    seats = await (await api.client.get(f"/shows/{held_and_booked}/seats/")).json()
    assert seats["booked"] == [5] and seats["held"] == []  # the earlier booking wins; the hold is voided
    assert 400 <= (await api.client.post(f"/holds/{late}/confirm/", headers=headers)).status < 500
    assert (await api.book(held_and_booked, 6, headers)).status == 201

    for show in (beyond, booked_after_hold):  # no repair may undo a sale: the show is refused, by name
        answer = await api.client.get(f"/shows/{show}/seats/")
        assert answer.status == 503, await answer.text()
        body = await answer.json()
        assert body["code"] == "show_inconsistent" and f"show {show}" in body["detail"], body
        assert (await api.book(show, 1, headers)).status == 503
    assert (await api.client.post(f"/holds/{early}/confirm/", headers=headers)).status == 503

    logged = "\n".join(record.getMessage() + str(getattr(record, "fields", "")) for record in caplog.records)
    for show in (two_holds, held_and_booked, beyond, booked_after_hold):
        assert f"show {show}: its stored state contradicts itself" in logged, logged
    assert second in logged and late in logged
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]

    engine = open_engine(database_url)  # the voided holds are released on disk too: a restart repairs nothing again
    try:
        async with engine.connect() as conn:
            statuses = dict((await conn.execute(text("SELECT id, status FROM holds"))).all())
    finally:
        await engine.dispose()
    assert statuses[second] == "released" and statuses[late] == "released" and statuses[early] == "active"


def test_reconcile_orders_by_journal_then_creation_time() -> None:
    """Pure: a journaled decision precedes one the journal never saw, whatever their clocks say."""
    when = datetime.now(UTC)
    holds = [StoredHold("a" * 32, 1, (1,), when), StoredHold("b" * 32, 2, (1, 2), when)]
    order = {("hold", "a" * 32): (UNJOURNALED, 1.0), ("hold", "b" * 32): (7, 2.0)}
    verdict = reconcile(1, 5, [], holds, [2], order)
    assert verdict.voided_holds == ["a" * 32] and [hold.id for hold in verdict.holds] == ["b" * 32]
    assert verdict.blocked == [] and verdict.refused is None and len(verdict.problems) == 2
    sound = reconcile(1, 5, [(1, 3, 1, True)], holds[:1], [2], {})
    assert sound.problems == [] and sound.holds == holds[:1]
