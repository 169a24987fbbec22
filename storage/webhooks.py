"""Webhooks in the database: the hooks, the deliveries owed to each, every attempt, and the lease that makes one
process the deliverer of a hook (cluster mode: one node; as show_owners does for shows).

Lease times are the database's clock in unix seconds, so nodes whose clocks drift still agree on who holds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Float, and_, bindparam, delete, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.layout import Layout, Prices, layout_from_stored
from engine.ports import ShowInfo
from storage.models import Movie, OutboxEvent, Show, UTCDateTime, Webhook, WebhookAttempt, WebhookDelivery
from storage.outbox import StoredEvent, events_after, last_event_id, stored_event
from storage.repository import unavailable_as_storage_error

DB_NOW = {
    "postgresql": "extract(epoch from clock_timestamp())",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
HOOKS, DELIVERIES, ATTEMPTS = Webhook.__table__, WebhookDelivery.__table__, WebhookAttempt.__table__
# Only while the hook exists (in the statement itself: a hook deleted between a check and the insert would
# otherwise fail the whole round's foreign keys).
RECORD_ATTEMPT = text(
    "INSERT INTO webhook_attempts (hook_id, event_id, attempt, at, status_code, error, duration_ms) "
    "SELECT :hook_id, :event_id, :attempt, :at, :status_code, :error, :duration_ms "
    "WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = :hook_id)"
).bindparams(bindparam("at", type_=UTCDateTime()))


@dataclass(frozen=True, slots=True)
class HookRow:
    id: int
    url: str
    events: tuple[str, ...]
    description: str
    secret: str
    active: bool
    disabled_reason: str | None
    cursor: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRow:
    event_id: int
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class Due:
    """A pending delivery of one hook, with its event."""

    delivery_id: int
    attempts: int
    event: StoredEvent


@dataclass(frozen=True, slots=True)
class Result:
    """One attempt and where its delivery stands after it (`delivery_id` None: a test ping)."""

    delivery_id: int | None
    hook_id: int
    event_id: int
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: float
    state: str  # pending, delivered or failed
    next_at: float
    at: datetime


@dataclass(frozen=True, slots=True)
class ShowDetails:
    """What an event says of its show: as the API's show answers do, with the film's title."""

    show: ShowInfo
    movie_title: str
    duration_minutes: int
    layout: Layout | None
    prices: Prices | None


def _hook(row: Any) -> HookRow:
    return HookRow(
        row.id,
        row.url,
        tuple(orjson.loads(row.events)),
        row.description,
        row.secret,
        row.active,
        row.disabled_reason,
        row.cursor,
        row.created_at,
    )


class WebhookStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._now = DB_NOW[engine.dialect.name]

    # --- the admin routes ----------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def create(self, url: str, events: Sequence[str], description: str, secret: str) -> HookRow:
        """A new hook hears of events committed after it: its cursor starts at the newest event."""
        async with self._engine.begin() as conn:
            cursor = await last_event_id(conn)
            result = await conn.execute(
                insert(HOOKS).returning(HOOKS.c.id),
                {
                    "url": url,
                    "events": orjson.dumps(list(events)).decode(),
                    "description": description,
                    "secret": secret,
                    "active": True,
                    "cursor": cursor,
                    "created_at": datetime.now(UTC),
                },
            )
            hook_id = result.scalar_one()
            return _hook((await conn.execute(select(HOOKS).where(HOOKS.c.id == hook_id))).one())

    @unavailable_as_storage_error
    async def hooks(self, hook_id: int | None = None) -> list[HookRow]:
        query = select(HOOKS).order_by(HOOKS.c.id)
        if hook_id is not None:
            query = query.where(HOOKS.c.id == hook_id)
        async with self._engine.connect() as conn:
            return [_hook(row) for row in (await conn.execute(query)).all()]

    @unavailable_as_storage_error
    async def delete(self, hook_id: int) -> bool:
        async with self._engine.begin() as conn:
            await conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.hook_id == hook_id))
            await conn.execute(delete(DELIVERIES).where(DELIVERIES.c.hook_id == hook_id))
            return (await conn.execute(delete(HOOKS).where(HOOKS.c.id == hook_id))).rowcount == 1

    @unavailable_as_storage_error
    async def attempts(self, hook_id: int, limit: int) -> list[AttemptRow]:
        """Newest first."""
        query = select(ATTEMPTS).where(ATTEMPTS.c.hook_id == hook_id).order_by(ATTEMPTS.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AttemptRow(r.event_id, r.attempt, r.at, r.status_code, r.error, r.duration_ms) for r in rows]

    # --- the delivery loop ---------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def claim(self, owner: str, lease_seconds: float) -> list[HookRow]:
        """The active hooks whose lease `owner` holds, taking the free and the expired ones and renewing its own."""
        now = self._now
        renew = text(
            f"UPDATE webhooks SET lease_owner = :owner, lease_until = {now} + :lease WHERE active AND "
            f"(lease_owner = :owner OR lease_owner IS NULL OR lease_until < {now})"
        )
        async with self._engine.begin() as conn:
            await conn.execute(renew, {"owner": owner, "lease": lease_seconds})
            query = select(HOOKS).where(HOOKS.c.active, HOOKS.c.lease_owner == owner).order_by(HOOKS.c.id)
            return [_hook(row) for row in (await conn.execute(query)).all()]

    @unavailable_as_storage_error
    async def release(self, owner: str) -> None:
        """A clean stop hands the hooks to the other nodes at once."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(HOOKS).where(HOOKS.c.lease_owner == owner).values(lease_owner=None, lease_until=None)
            )

    @unavailable_as_storage_error
    async def fan_out(self, hook: HookRow, limit: int, now: float) -> tuple[int, int]:
        """Queue the hook's share of the next `limit` outbox events; returns (events read, deliveries queued).

        The cursor moves only from the value this read started at: a second process racing with the same
        hook (a lease changing hands) changes nothing."""
        outbox = OutboxEvent.__table__
        async with self._engine.begin() as conn:
            cursor = (await conn.execute(select(HOOKS.c.cursor).where(HOOKS.c.id == hook.id))).scalar()
            if cursor is None:  # deleted since it was claimed
                return 0, 0
            window = select(outbox.c.id).where(outbox.c.id > cursor).order_by(outbox.c.id).limit(limit).subquery()
            top, read = (await conn.execute(select(func.max(window.c.id), func.count()).select_from(window))).one()
            if not read:
                return 0, 0
            moved = await conn.execute(
                update(HOOKS).where(HOOKS.c.id == hook.id, HOOKS.c.cursor == cursor).values(cursor=top)
            )
            if moved.rowcount != 1:
                await conn.rollback()
                return 0, 0
            # In SQL, row by row in the database: the events never pass through Python here.
            wanted = select(
                literal(hook.id),
                outbox.c.id,
                func.coalesce(outbox.c.show_id, 0),
                literal("pending"),
                literal(0),
                literal(now, Float()),
                literal(datetime.now(UTC), UTCDateTime()),
            ).where(outbox.c.id > cursor, outbox.c.id <= top, outbox.c.type.in_(list(hook.events)))
            columns = ["hook_id", "event_id", "show_key", "state", "attempts", "next_at", "created_at"]
            queued = await conn.execute(insert(DELIVERIES).from_select(columns, wanted))
            return read, queued.rowcount

    @unavailable_as_storage_error
    async def due(self, hook_id: int, now: float, shows: int, chain: int, busy: set[int]) -> list[list[Due]]:
        """For up to `shows` shows not being sent already (`busy`, by show key) whose oldest pending delivery is
        due: that delivery and up to `chain` - 1 of the show's next ones, oldest first. A show's later events
        wait for its earlier ones, so each receiver hears of a show's changes in order."""
        pending = and_(DELIVERIES.c.hook_id == hook_id, DELIVERIES.c.state == "pending")
        heads = (
            select(DELIVERIES.c.show_key, func.min(DELIVERIES.c.event_id).label("event_id"))
            .where(pending)
            .group_by(DELIVERIES.c.show_key)
            .subquery()
        )
        query = (
            select(DELIVERIES.c.show_key)
            .join(heads, and_(DELIVERIES.c.event_id == heads.c.event_id, DELIVERIES.c.show_key == heads.c.show_key))
            .where(DELIVERIES.c.hook_id == hook_id, DELIVERIES.c.next_at <= now)
            .order_by(DELIVERIES.c.event_id)
        )
        if busy:
            query = query.where(DELIVERIES.c.show_key.not_in(sorted(busy)))
        async with self._engine.connect() as conn:
            keys = list((await conn.execute(query.limit(shows))).scalars())
            if not keys:
                return []
            ranked = (
                select(
                    DELIVERIES.c.id,
                    DELIVERIES.c.attempts,
                    DELIVERIES.c.event_id,
                    DELIVERIES.c.show_key,
                    func.row_number()
                    .over(partition_by=DELIVERIES.c.show_key, order_by=DELIVERIES.c.event_id)
                    .label("n"),
                )
                .where(pending, DELIVERIES.c.show_key.in_(keys))
                .subquery()
            )
            rows = (await conn.execute(select(ranked).where(ranked.c.n <= chain).order_by(ranked.c.event_id))).all()
            outbox = OutboxEvent.__table__
            found = await conn.execute(select(outbox).where(outbox.c.id.in_([r.event_id for r in rows])))
            events = {e.id: stored_event(e) for e in found.all()}
        chains: dict[int, list[Due]] = {}
        for r in rows:
            if r.event_id in events:
                chains.setdefault(r.show_key, []).append(Due(r.id, r.attempts, events[r.event_id]))
        return list(chains.values())

    @unavailable_as_storage_error
    async def record(self, results: Sequence[Result]) -> None:
        """Attempts, and where their deliveries stand after them, in one transaction: on SQLite every write
        waits for the journal's write lock, so the loop writes once per round, not once per request. Results
        of hooks deleted meanwhile are dropped."""
        if not results:
            return
        async with self._engine.begin() as conn:
            kept = results
            await conn.execute(
                RECORD_ATTEMPT,
                [
                    {
                        "hook_id": r.hook_id,
                        "event_id": r.event_id,
                        "attempt": r.attempt,
                        "at": r.at,
                        "status_code": r.status_code,
                        "error": r.error[:300] if r.error else None,
                        "duration_ms": r.duration_ms,
                    }
                    for r in kept
                ],
            )
            changes = [
                {
                    "delivery": r.delivery_id,
                    "state": r.state,
                    "attempts": r.attempt,
                    "next_at": r.next_at,
                    "finished_at": r.at if r.state != "pending" else None,
                }
                for r in kept
                if r.delivery_id is not None
            ]
            if changes:
                await conn.execute(
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id == bindparam("delivery"))
                    .values(
                        state=bindparam("state"),
                        attempts=bindparam("attempts"),
                        next_at=bindparam("next_at"),
                        finished_at=bindparam("finished_at"),
                    ),
                    changes,
                )

    @unavailable_as_storage_error
    async def disable(self, hook_id: int, reason: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(HOOKS)
                .where(HOOKS.c.id == hook_id)
                .values(active=False, disabled_reason=reason[:300], lease_owner=None, lease_until=None)
            )

    @unavailable_as_storage_error
    async def prune(self, before: datetime) -> tuple[int, int, int]:
        """Delete finished deliveries and attempts older than `before`, and outbox events older than it that
        every hook has read past and no pending delivery still needs. Returns the rows deleted per table."""
        async with self._engine.begin() as conn:
            deliveries = (
                await conn.execute(
                    delete(DELIVERIES).where(DELIVERIES.c.state != "pending", DELIVERIES.c.finished_at < before)
                )
            ).rowcount
            attempts = (await conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.at < before))).rowcount
            read_past = select(func.min(HOOKS.c.cursor)).where(HOOKS.c.active)
            floor = (await conn.execute(read_past)).scalar_one()
            pending = select(DELIVERIES.c.event_id).where(DELIVERIES.c.state == "pending")
            outbox = OutboxEvent.__table__
            condition = [outbox.c.created_at < before, outbox.c.id.not_in(pending)]
            if floor is not None:
                condition.append(outbox.c.id <= floor)
            events = (await conn.execute(delete(outbox).where(*condition))).rowcount
        return deliveries, attempts, events

    @unavailable_as_storage_error
    async def shows(self, show_ids: Sequence[int]) -> dict[int, ShowDetails]:
        shows = Show.__table__
        query = (
            select(shows, Movie.title, Movie.duration_minutes)
            .join(Movie, Movie.id == shows.c.movie_id)
            .where(shows.c.id.in_(list(show_ids)))
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found = {}
        for show in rows:
            title, duration = show.title, show.duration_minutes
            info = ShowInfo(show.id, show.movie_id, show.screen_name, show.date_time, show.total_seats)
            layout = layout_from_stored(orjson.loads(show.layout)) if show.layout else None
            prices = Prices(orjson.loads(show.prices), show.currency or "") if show.prices else None
            found[show.id] = ShowDetails(info, title, duration, layout, prices)
        return found

    @unavailable_as_storage_error
    async def events(self, after: int, limit: int) -> list[StoredEvent]:
        async with self._engine.connect() as conn:
            return await events_after(conn, after, limit)
