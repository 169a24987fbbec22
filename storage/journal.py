"""The group-commit journal writer: one task commits the seat changes of all actors, many per transaction.

Records wait in one bounded queue. The writer takes up to `max_batch` of them and writes them in one transaction
(cancels, then bookings, then the journal rows: one multi-row statement each); only after the commit does it run
each record's callback. While one transaction is in flight the queue fills, so the busier the service, the
larger the batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.ports import (
    BlockRecord,
    BookRecord,
    CancelRecord,
    CheckInRecord,
    HoldEndRecord,
    HoldRecord,
    OnCommit,
    OnFail,
    Record,
    StorageUnavailable,
)
from storage.database import is_unavailable, open_sync_sqlite
from storage.models import Booking, JournalEntry

log = logging.getLogger(__name__)
T = TypeVar("T")
Unit = tuple[tuple[Record, ...], OnCommit, OnFail]

BOOKINGS = Booking.__table__
JOURNAL = JournalEntry.__table__

NEXT_BOOKING_ID = select(func.coalesce(func.max(BOOKINGS.c.id), 0) + 1)


@dataclass(slots=True)
class JournalStats:
    batches: int = 0
    records: int = 0
    failed_batches: int = 0
    largest_batch: int = 0
    last_commit_seconds: float = 0.0
    commit_seconds: float = 0.0  # summed over committed batches
    last_error: str | None = None


class GroupCommitJournal:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 1000,
        max_queue: int = 20_000,
        observer: Callable[[int, float], None] | None = None,
    ) -> None:
        assert 1 <= max_batch <= max_queue
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._queue: deque[Unit] = deque()
        self._queued = 0  # records in the queue
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._writer = (
            _SqliteWriter(engine.url.render_as_string(False))
            if engine.dialect.name == "sqlite"
            else (_AsyncWriter(engine))
        )
        # Booking ids are handed out here, not by the database: one plain multi-row INSERT per batch is far
        # cheaper than INSERT ... RETURNING, which SQLite can only keep in order one row at a time. This writer
        # is the only one that inserts bookings; after a failed batch the next id is read again.
        self._next_booking_id: int | None = None
        self.stats = JournalStats()
        self._observer = observer  # told (records, seconds) after each committed batch

    @property
    def depth(self) -> int:
        return self._queued

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done() and self.stats.last_error is None

    def start(self) -> None:
        assert self._task is None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="journal-writer")

    async def close(self) -> None:
        """Commit everything already appended, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._writer.close()

    def has_room(self, records: int = 1) -> bool:
        return not self._closing and self._queued + records <= self._max_queue

    def append(self, unit: Sequence[Record], on_commit: OnCommit, on_fail: OnFail) -> None:
        assert unit and self.has_room(len(unit)), "callers must check has_room() first"
        self._queue.append((tuple(unit), on_commit, on_fail))
        self._queued += len(unit)
        self._wake.set()

    async def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [queue.popleft()]  # whole units only: a unit commits entirely or not at all
            records = list(batch[0][0])
            while queue and len(records) + len(queue[0][0]) <= self._max_batch:
                batch.append(queue.popleft())
                records.extend(batch[-1][0])
            self._queued -= len(records)
            started = time.perf_counter()
            try:
                ids = await self._commit(records)
            except Exception as error:  # every fault must reach the waiting callers, never kill the writer
                self._fail(batch, error)
                continue
            self.stats.batches += 1
            self.stats.records += len(records)
            self.stats.largest_batch = max(self.stats.largest_batch, len(records))
            self.stats.last_commit_seconds = time.perf_counter() - started
            self.stats.commit_seconds += self.stats.last_commit_seconds
            self.stats.last_error = None
            if self._observer is not None:
                self._observer(len(records), self.stats.last_commit_seconds)
            position = 0
            for unit, on_commit, _ in batch:
                on_commit(ids[position : position + len(unit)])
                position += len(unit)

    def _fail(self, batch: list[Unit], error: Exception) -> None:
        self._next_booking_id = None
        # Units still queued were decided on top of the failed ones: they fail too, and the actors reload.
        failed = batch + list(self._queue)
        self._queue.clear()
        self._queued = 0
        self.stats.failed_batches += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"
        if is_unavailable(error):
            log.warning("journal commit failed, %d records refused: %s", len(failed), self.stats.last_error)
        else:
            log.exception("journal commit failed unexpectedly, %d records refused", len(failed))
        unavailable = StorageUnavailable("the booking could not be saved; nothing was booked or cancelled")
        for _, _, on_fail in failed:
            on_fail(unavailable)

    async def _commit(self, records: list[Record]) -> list[int | None]:
        first_id = self._next_booking_id
        if first_id is None:
            first_id = await self._writer.next_booking_id()
        ids, statements = _plan(records, first_id, self._writer.sql)
        await self._writer.write(statements)
        self._next_booking_id = first_id + sum(isinstance(r, BookRecord) for r in records)
        return ids


Statement = tuple[str, Any, int | None]  # sql, parameters (a list of tuples: executemany), the row count it must report


def _plan(records: list[Record], first_id: int, sql: _BatchSql) -> tuple[list[int | None], list[Statement]]:
    """The booking ids of a batch and the statements that write it, in order."""
    stamp = sql.stamp
    new_ids = iter(range(first_id, first_id + len(records)))
    ids: list[int | None] = [
        next(new_ids)
        if isinstance(r, BookRecord)
        else r.booking_id
        if isinstance(r, CancelRecord | CheckInRecord)
        else None
        for r in records
    ]
    times = [stamp(r.at) for r in records]
    cancels = [(r.booking_id, at) for r, at in zip(records, times, strict=True) if isinstance(r, CancelRecord)]
    books = []
    order_id = 0
    for r, booking_id, at in zip(records, ids, times, strict=True):
        if isinstance(r, BookRecord):
            order_id = booking_id if r.order_start else order_id  # the order is named by its first booking
            assert order_id, "an order's first record starts it"
            books.append((booking_id, r.user_id, r.show_id, r.seat_number, at, order_id))
    check_ins = [
        (r.booking_id, at, r.user_id) for r, at in zip(records, times, strict=True) if isinstance(r, CheckInRecord)
    ]
    journal: list[tuple[Any, ...]] = []
    for r, booking_id, at in zip(records, ids, times, strict=True):
        if isinstance(r, BookRecord | CancelRecord | CheckInRecord):
            op = "book" if isinstance(r, BookRecord) else "cancel" if isinstance(r, CancelRecord) else "checkin"
            journal.append((r.show_id, booking_id, None, op, r.seat_number, r.user_id, at))
        elif isinstance(r, HoldRecord | HoldEndRecord):
            op = "hold" if isinstance(r, HoldRecord) else HOLD_END_OPS[r.status]
            journal.extend((r.show_id, None, r.hold_id, op, seat, r.user_id, at) for seat in r.seats)
        else:
            op = "block" if r.blocked else "unblock"
            journal.extend((r.show_id, None, None, op, seat, r.user_id, at) for seat in r.seats)
    ends = [(r.status, at, r.hold_id) for r, at in zip(records, times, strict=True) if isinstance(r, HoldEndRecord)]
    holds = [
        (r.hold_id, r.show_id, r.user_id, orjson.dumps(r.seats).decode(), stamp(r.expires_at), at)
        for r, at in zip(records, times, strict=True)
        if isinstance(r, HoldRecord)
    ]
    blocks = [(r.show_id, seat) for r in records if isinstance(r, BlockRecord) and r.blocked for seat in r.seats]
    unblocks = [(r.show_id, seat) for r in records if isinstance(r, BlockRecord) and not r.blocked for seat in r.seats]
    # A cancel's booking was committed before its id was ever handed out, so running every cancel (and every
    # hold end and unblock) before every booking in the batch only frees seats earlier: the live-seat index
    # stays satisfied. A hold is inserted before it can end: its id is only known once it has committed.
    statements: list[Statement] = []
    if cancels:
        statements.append((sql.cancel, sql.pack(cancels), len(cancels)))
    if ends:
        statements.append((sql.end_hold, sql.pack(ends), len(ends)))
    if unblocks:
        statements.append((sql.unblock, unblocks, None))
    if books:
        statements.append((sql.insert_bookings, sql.pack(books), None))
    if check_ins:  # after the bookings: a ticket is scanned only once its booking has committed
        statements.append((sql.check_in, sql.pack(check_ins), len(check_ins)))
    if holds:
        statements.append((sql.insert_hold, holds, None))
    if blocks:
        statements.append((sql.block, blocks, None))
    statements.append((sql.insert_journal, sql.pack(journal), None))
    return ids, statements


HOLD_END_OPS = {"confirmed": "confirm", "released": "release", "expired": "expire"}


def _check(statement: Statement, rowcount: int) -> None:
    if statement[2] is not None and rowcount != statement[2]:
        raise RuntimeError(f"{statement[2]} changes matched {rowcount} rows: {statement[0][:40]}")


class _AsyncWriter:
    """PostgreSQL: the batch's statements on one pooled asyncpg connection, in one transaction."""

    sql: _BatchSql

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.sql = POSTGRESQL

    async def next_booking_id(self) -> int:
        async with self._engine.connect() as conn:
            return (await conn.execute(NEXT_BOOKING_ID)).scalar_one()

    async def write(self, statements: list[Statement]) -> None:
        async with self._engine.begin() as conn:
            for statement in statements:
                _check(statement, (await conn.exec_driver_sql(statement[0], statement[1])).rowcount)

    async def close(self) -> None:
        pass


class _SqliteWriter:
    """SQLite: the whole batch in one hop to a writer thread with its own connection.

    Through aiosqlite every statement, BEGIN and COMMIT is a round trip that waits for a free moment of the busy
    event loop; that waiting, not SQLite, set the commit latency (33 ms for 100 rows under load).
    """

    def __init__(self, url: str) -> None:
        self._engine = open_sync_sqlite(url)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-sqlite")
        self.sql = SQLITE

    async def next_booking_id(self) -> int:
        return await self._run(self._next_booking_id)

    async def write(self, statements: list[Statement]) -> None:
        await self._run(self._write, statements)

    async def close(self) -> None:
        await self._run(self._engine.dispose)
        self._thread.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _next_booking_id(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(NEXT_BOOKING_ID).scalar_one()

    def _write(self, statements: list[Statement]) -> None:
        with self._engine.begin() as conn:
            for statement in statements:
                _check(statement, conn.exec_driver_sql(statement[0], statement[1]).rowcount)


@dataclass(frozen=True, slots=True)
class _BatchSql:
    """Each statement writes a whole batch from one parameter per column (PostgreSQL arrays) or one JSON
    parameter (SQLite), so a batch is three driver calls whatever its size. Row-at-a-time executemany made the
    driver thread and the event loop fight over the GIL and cost four times SQLite's own work."""

    insert_bookings: str
    insert_journal: str
    cancel: str
    end_hold: str
    check_in: str
    # executemany from here on: holds and blocks are few, bookings are many
    insert_hold: str
    block: str
    unblock: str
    pack: Callable[[list[tuple[Any, ...]]], tuple[Any, ...]]
    stamp: Callable[[datetime], Any]


def _encode_time(at: datetime) -> str:
    """What UTCDateTime stores on SQLite: naive UTC text with microseconds, so reads parse it back exactly."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


SQLITE = _BatchSql(
    insert_bookings="INSERT INTO bookings (id, user_id, show_id, seat_number, status, created_at, order_id) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, 'booked', value ->> 4, value ->> 5 FROM json_each(?)",
    check_in="UPDATE bookings SET checked_in_at = c.value ->> 1, checked_in_by = c.value ->> 2 FROM json_each(?) AS c "
    "WHERE bookings.id = c.value ->> 0 AND bookings.status = 'booked' AND bookings.checked_in_at IS NULL",
    insert_journal="INSERT INTO seat_journal (show_id, booking_id, hold_id, op, seat_number, user_id, at) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6 "
    "FROM json_each(?)",
    end_hold="UPDATE holds SET status = c.value ->> 0, ended_at = c.value ->> 1 FROM json_each(?) AS c "
    "WHERE holds.id = c.value ->> 2 AND holds.status = 'active'",
    insert_hold="INSERT INTO holds (id, show_id, user_id, seats, status, expires_at, created_at) "
    "VALUES (?, ?, ?, ?, 'active', ?, ?)",
    block="INSERT INTO blocked_seats (show_id, seat_number) VALUES (?, ?) ON CONFLICT DO NOTHING",
    unblock="DELETE FROM blocked_seats WHERE show_id = ? AND seat_number = ?",
    cancel="UPDATE bookings SET status = 'cancelled', cancelled_at = c.value ->> 1 FROM json_each(?) AS c "
    "WHERE bookings.id = c.value ->> 0 AND bookings.status = 'booked'",
    pack=lambda rows: (orjson.dumps(rows).decode(),),
    stamp=_encode_time,
)
POSTGRESQL = _BatchSql(
    insert_bookings="INSERT INTO bookings (id, user_id, show_id, seat_number, status, created_at, order_id) "
    "SELECT r.id, r.user_id, r.show_id, r.seat_number, 'booked', r.at, r.order_id "
    "FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::timestamptz[], $6::int[]) "
    "AS r(id, user_id, show_id, seat_number, at, order_id)",
    check_in="UPDATE bookings SET checked_in_at = c.at, checked_in_by = c.staff "
    "FROM unnest($1::int[], $2::timestamptz[], $3::int[]) AS c(id, at, staff) "
    "WHERE bookings.id = c.id AND bookings.status = 'booked' AND bookings.checked_in_at IS NULL",
    insert_journal="INSERT INTO seat_journal (show_id, booking_id, hold_id, op, seat_number, user_id, at) "
    "SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::int[], $6::int[], $7::timestamptz[])",
    end_hold="UPDATE holds SET status = c.status, ended_at = c.at "
    "FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS c(status, at, id) "
    "WHERE holds.id = c.id AND holds.status = 'active'",
    insert_hold="INSERT INTO holds (id, show_id, user_id, seats, status, expires_at, created_at) "
    "VALUES ($1, $2, $3, $4, 'active', $5, $6)",
    block="INSERT INTO blocked_seats (show_id, seat_number) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    unblock="DELETE FROM blocked_seats WHERE show_id = $1 AND seat_number = $2",
    cancel="UPDATE bookings SET status = 'cancelled', cancelled_at = c.at "
    "FROM unnest($1::int[], $2::timestamptz[]) AS c(id, at) WHERE bookings.id = c.id AND bookings.status = 'booked'",
    pack=lambda rows: tuple(list(column) for column in zip(*rows, strict=True)),
    stamp=lambda at: at,
)
