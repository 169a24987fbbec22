"""The group-commit journal writer: one task commits the seat changes of all actors, many per transaction.

Records wait in one bounded queue. The writer takes up to `max_batch` of them and writes them in one transaction
(cancels, then bookings, then the journal rows: one multi-row statement each); only after the commit does it run
each record's callback. While one transaction is in flight the queue fills, so the busier the service, the
larger the batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.ports import BookRecord, CancelRecord, OnCommit, OnFail, Record, StorageUnavailable
from storage.database import is_unavailable
from storage.models import Booking, JournalEntry

log = logging.getLogger(__name__)

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
    last_error: str | None = None


class GroupCommitJournal:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = 1000, max_queue: int = 20_000) -> None:
        assert 1 <= max_batch <= max_queue
        self._engine = engine
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._queue: deque[tuple[Record, OnCommit, OnFail]] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        # Booking ids are handed out here, not by the database: one plain multi-row INSERT per batch is far
        # cheaper than INSERT ... RETURNING, which SQLite can only keep in order one row at a time. This writer
        # is the only one that inserts bookings; after a failed batch the next id is read again.
        self._next_booking_id: int | None = None
        self.stats = JournalStats()

    @property
    def depth(self) -> int:
        return len(self._queue)

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

    def has_room(self) -> bool:
        return not self._closing and len(self._queue) < self._max_queue

    def append(self, record: Record, on_commit: OnCommit, on_fail: OnFail) -> None:
        assert self.has_room(), "callers must check has_room() first"
        self._queue.append((record, on_commit, on_fail))
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
            batch = [queue.popleft() for _ in range(min(len(queue), self._max_batch))]
            started = time.perf_counter()
            try:
                ids = await self._commit([record for record, _, _ in batch])
            except Exception as error:  # every fault must reach the waiting callers, never kill the writer
                self._fail(batch, error)
                continue
            self.stats.batches += 1
            self.stats.records += len(batch)
            self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
            self.stats.last_commit_seconds = time.perf_counter() - started
            self.stats.last_error = None
            for (_, on_commit, _), booking_id in zip(batch, ids, strict=True):
                on_commit(booking_id)

    def _fail(self, batch: list[tuple[Record, OnCommit, OnFail]], error: Exception) -> None:
        self._next_booking_id = None
        # Records still queued were decided on top of the failed ones: they fail too, and the actors reload.
        failed = batch + list(self._queue)
        self._queue.clear()
        self.stats.failed_batches += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"
        if is_unavailable(error):
            log.warning("journal commit failed, %d records refused: %s", len(failed), self.stats.last_error)
        else:
            log.exception("journal commit failed unexpectedly, %d records refused", len(failed))
        unavailable = StorageUnavailable("the booking could not be saved; nothing was booked or cancelled")
        for _, _, on_fail in failed:
            on_fail(unavailable)

    async def _commit(self, records: list[Record]) -> list[int]:
        books = [r for r in records if isinstance(r, BookRecord)]
        cancels = [r for r in records if isinstance(r, CancelRecord)]
        async with self._engine.begin() as conn:
            sql = SQLITE if conn.dialect.name == "sqlite" else POSTGRESQL
            stamp = sql.stamp
            # A cancel's booking was committed before its id was ever handed out, so running every cancel
            # before every booking in the batch only frees seats earlier: the live-seat index stays satisfied.
            if cancels:
                result = await conn.exec_driver_sql(
                    sql.cancel, sql.pack([(r.booking_id, stamp(r.at)) for r in cancels])
                )
                if result.rowcount != len(cancels):
                    raise RuntimeError(f"{len(cancels)} cancels matched {result.rowcount} live bookings")
            first_id = self._next_booking_id
            if first_id is None:
                first_id = (await conn.execute(NEXT_BOOKING_ID)).scalar_one()
            new_ids = iter(range(first_id, first_id + len(books)))
            ids = [next(new_ids) if isinstance(r, BookRecord) else r.booking_id for r in records]
            if books:
                await conn.exec_driver_sql(
                    sql.insert_bookings,
                    sql.pack(
                        [
                            (booking_id, r.user_id, r.show_id, r.seat_number, stamp(r.at))
                            for r, booking_id in zip(records, ids, strict=True)
                            if isinstance(r, BookRecord)
                        ]
                    ),
                )
            await conn.exec_driver_sql(
                sql.insert_journal,
                sql.pack(
                    [
                        (
                            r.show_id,
                            booking_id,
                            "book" if isinstance(r, BookRecord) else "cancel",
                            r.seat_number,
                            r.user_id,
                            stamp(r.at),
                        )
                        for r, booking_id in zip(records, ids, strict=True)
                    ]
                ),
            )
        self._next_booking_id = first_id + len(books)
        return ids


@dataclass(frozen=True, slots=True)
class _BatchSql:
    """Each statement writes a whole batch from one parameter per column (PostgreSQL arrays) or one JSON
    parameter (SQLite), so a batch is three driver calls whatever its size. Row-at-a-time executemany made the
    driver thread and the event loop fight over the GIL and cost four times SQLite's own work."""

    insert_bookings: str
    insert_journal: str
    cancel: str
    pack: Callable[[list[tuple[Any, ...]]], tuple[Any, ...]]
    stamp: Callable[[datetime], Any]


def _encode_time(at: datetime) -> str:
    """What UTCDateTime stores on SQLite: naive UTC text with microseconds, so reads parse it back exactly."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


SQLITE = _BatchSql(
    insert_bookings="INSERT INTO bookings (id, user_id, show_id, seat_number, status, created_at) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, 'booked', value ->> 4 FROM json_each(?)",
    insert_journal="INSERT INTO seat_journal (show_id, booking_id, op, seat_number, user_id, at) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each(?)",
    cancel="UPDATE bookings SET status = 'cancelled', cancelled_at = c.value ->> 1 FROM json_each(?) AS c "
    "WHERE bookings.id = c.value ->> 0 AND bookings.status = 'booked'",
    pack=lambda rows: (json.dumps(rows),),
    stamp=_encode_time,
)
POSTGRESQL = _BatchSql(
    insert_bookings="INSERT INTO bookings (id, user_id, show_id, seat_number, status, created_at) "
    "SELECT r.id, r.user_id, r.show_id, r.seat_number, 'booked', r.at "
    "FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::timestamptz[]) "
    "AS r(id, user_id, show_id, seat_number, at)",
    insert_journal="INSERT INTO seat_journal (show_id, booking_id, op, seat_number, user_id, at) "
    "SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::int[], $5::int[], $6::timestamptz[])",
    cancel="UPDATE bookings SET status = 'cancelled', cancelled_at = c.at "
    "FROM unnest($1::int[], $2::timestamptz[]) AS c(id, at) WHERE bookings.id = c.id AND bookings.status = 'booked'",
    pack=lambda rows: tuple(list(column) for column in zip(*rows, strict=True)),
    stamp=lambda at: at,
)
