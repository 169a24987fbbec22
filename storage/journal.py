"""The group-commit journal writer: one task commits the seat changes of all actors, many per transaction.

Records wait in one bounded queue. The writer takes up to `max_batch` of them, writes them in one transaction
(cancels, then bookings, then the journal rows) and only then runs each record's commit callback. While one
transaction is in flight the queue fills, so the busier the service, the larger the batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.ports import BookRecord, CancelRecord, OnCommit, OnFail, Record, StorageUnavailable
from storage.database import is_unavailable
from storage.models import Booking, JournalEntry, UTCDateTime

log = logging.getLogger(__name__)

BOOKINGS = Booking.__table__
JOURNAL = JournalEntry.__table__

INSERT_BOOKINGS = insert(BOOKINGS).returning(BOOKINGS.c.id, sort_by_parameter_order=True)
CANCEL_BOOKINGS = (
    update(BOOKINGS)
    .where(BOOKINGS.c.id == bindparam("b_id"), BOOKINGS.c.status == "booked")
    .values(status="cancelled", cancelled_at=bindparam("b_at", type_=UTCDateTime()))
)
INSERT_JOURNAL = insert(JOURNAL)


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
            # A cancel's booking was committed before its id was ever handed out, so running every cancel
            # before every booking in the batch only frees seats earlier: the live-seat index stays satisfied.
            if cancels:
                await self._cancel(conn, cancels)
            new_ids = iter(await self._book(conn, books) if books else ())
            ids = [next(new_ids) if isinstance(r, BookRecord) else r.booking_id for r in records]
            await conn.execute(
                INSERT_JOURNAL,
                [
                    {
                        "show_id": r.show_id,
                        "booking_id": booking_id,
                        "op": "book" if isinstance(r, BookRecord) else "cancel",
                        "seat_number": r.seat_number,
                        "user_id": r.user_id,
                        "at": r.at,
                    }
                    for r, booking_id in zip(records, ids, strict=True)
                ],
            )
        return ids

    @staticmethod
    async def _cancel(conn: AsyncConnection, cancels: list[CancelRecord]) -> None:
        result = await conn.execute(CANCEL_BOOKINGS, [{"b_id": r.booking_id, "b_at": r.at} for r in cancels])
        if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(cancels):
            raise RuntimeError(f"{len(cancels)} cancels matched {result.rowcount} live bookings")

    @staticmethod
    async def _book(conn: AsyncConnection, books: list[BookRecord]) -> list[int]:
        result = await conn.execute(
            INSERT_BOOKINGS,
            [
                {
                    "user_id": r.user_id,
                    "show_id": r.show_id,
                    "seat_number": r.seat_number,
                    "status": "booked",
                    "created_at": r.at,
                }
                for r in books
            ],
        )
        ids = list(result.scalars())
        assert len(ids) == len(books), (len(ids), len(books))
        return ids
