"""The group-commit journal writer: one task commits the seat changes of all actors, many per transaction.

Records wait in one bounded queue. The writer takes up to `max_batch` of them and writes them in one transaction
(cancels, then bookings, then the journal rows: one multi-row statement each); only after the commit does it run
each record's callback. While one transaction is in flight the queue fills, so the busier the service, the
larger the batches.

Each transaction first runs one statement (whatever the batch's size) that takes the batch's booking ids from
the database and takes the fence lock; the fence is then checked (on PostgreSQL in the batch's last statement):
every show written must still carry the owner epoch its actor loaded with. While the batch holds the lock no
new epoch can be taken (on PostgreSQL a shared transaction advisory lock that every epoch bump takes exclusive;
on SQLite the write lock of BEGIN IMMEDIATE), so an epoch taken later waits for this commit and then reads it.
Units of stale shows are refused (StaleOwner) and the rest committed. A batch that fails on its data (a constraint, a
deleted user's foreign key) is split in halves until the offending units stand alone; only they fail, each
with an answer fitting its cause. An unavailable database fails the batch and every unit queued behind it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, event, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.errors import ShowNotFound
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
    StaleOwner,
    StorageUnavailable,
    UserGone,
)
from storage import outbox as outbox_sql
from storage.database import is_unavailable, open_sync_sqlite
from storage.models import Show, User
from storage.outbox import journal_events

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class Unit:
    """Records that commit together or not at all, decided by one actor holding `epoch` for `show_id`."""

    records: tuple[Record, ...]
    show_id: int
    epoch: int
    on_commit: OnCommit
    on_fail: OnFail


Fences = dict[int, int]  # show id -> the owner epoch its units were decided under


class StaleShows(Exception):
    """The fence check found shows whose owner epoch moved on; the transaction was rolled back."""

    def __init__(self, show_ids: set[int]) -> None:
        super().__init__(f"shows {sorted(show_ids)} have a newer owner")
        self.show_ids = show_ids


@dataclass(slots=True)
class JournalStats:
    batches: int = 0
    records: int = 0
    failed_batches: int = 0  # refused whole because the database was unavailable
    largest_batch: int = 0
    last_commit_seconds: float = 0.0
    commit_seconds: float = 0.0  # summed over committed batches
    last_error: str | None = None
    stale_units: int = 0  # refused by the owner-epoch fence
    refused_units: int = 0  # refused alone for their own data (deleted user, constraint)
    isolation_commits: int = 0  # extra transactions spent finding refused units


class GroupCommitJournal:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 1000,
        max_queue: int = 20_000,
        observer: Callable[[int, float], None] | None = None,
        fence: bool = True,
        outbox: bool = True,
    ) -> None:
        """`fence=False` skips the owner-epoch check: only for measuring what the check costs (the benchmark
        turns `self.fence` off and on between batches). `outbox=False` writes no events (storage/outbox.py):
        likewise only for measuring what they cost."""
        assert 1 <= max_batch <= max_queue
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._queue: deque[Unit] = deque()
        self._queued = 0  # records in the queue
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.fence = fence
        self.outbox = outbox
        self._writer = (
            _SqliteWriter(engine.url.render_as_string(False))
            if engine.dialect.name == "sqlite"
            else (_AsyncWriter(engine))
        )
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

    def append(self, unit: Sequence[Record], epoch: int, on_commit: OnCommit, on_fail: OnFail) -> None:
        assert unit and self.has_room(len(unit)), "callers must check has_room() first"
        show_id = unit[0].show_id
        assert all(r.show_id == show_id for r in unit), "a unit belongs to one show"
        self._queue.append(Unit(tuple(unit), show_id, epoch, on_commit, on_fail))
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
            size = len(batch[0].records)
            while queue and size + len(queue[0].records) <= self._max_batch:
                batch.append(queue.popleft())
                size += len(batch[-1].records)
            self._queued -= size
            parts = [batch]  # what is still to commit, in order
            try:
                while parts:
                    await self._commit_part(parts)
            except Exception as error:  # every fault must reach the waiting callers, never kill the writer
                self._fail([unit for part in parts for unit in part], error)

    async def _commit_part(self, parts: list[list[Unit]]) -> None:
        """Commit parts[0], or refuse what in it is stale or poisoned and put the rest back in front.

        Raises only when the database is unavailable (parts[0] still holds what was not committed)."""
        part = parts[0]
        started = time.perf_counter()  # the fence's whole cost, its dict included, is inside the commit time
        records = [record for unit in part for record in unit.records]
        fences = {unit.show_id: unit.epoch for unit in part} if self.fence else {}
        try:
            ids = await self._writer.write(records, fences, self.outbox)
        except StaleShows as stale:
            parts[0] = [unit for unit in part if unit.show_id not in stale.show_ids]
            self._refuse(
                [unit for unit in part if unit.show_id in stale.show_ids],
                StaleOwner("this show was taken over by a newer loader; nothing was changed"),
            )
            self.stats.stale_units += len(part) - len(parts[0])
            self.stats.isolation_commits += 1
            if not parts[0]:
                parts.pop(0)
            return
        except Exception as error:
            if is_unavailable(error):
                raise
            self.stats.isolation_commits += 1
            if len(part) > 1:  # the data of some unit in it is refused: halve until it stands alone
                middle = len(part) // 2
                parts[0:1] = [part[:middle], part[middle:]]
                return
            cause = await self._cause(part[0], error)  # may raise (unavailable): the unit is still in parts
            parts.pop(0)
            self.stats.refused_units += 1
            if isinstance(cause, StorageUnavailable):  # not explained by the unit's own data: not ready
                self.stats.last_error = f"{type(error).__name__}: {error}"
            log.warning("journal refused one unit of show %d: %s (%s)", part[0].show_id, cause, error.__class__)
            self._refuse(part, cause)
            return
        parts.pop(0)
        seconds = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.largest_batch = max(self.stats.largest_batch, len(records))
        self.stats.last_commit_seconds = seconds
        self.stats.commit_seconds += seconds
        self.stats.last_error = None
        if self._observer is not None:
            self._observer(len(records), seconds)
        position = 0
        for unit in part:
            unit.on_commit(ids[position : position + len(unit.records)])
            position += len(unit.records)

    async def _cause(self, unit: Unit, error: Exception) -> Exception:
        """What to tell the callers of a unit whose data the database refused."""
        users = sorted({record.user_id for record in unit.records})
        missing_users, show_exists = await self._writer.look_up(users, unit.show_id)
        if not show_exists:
            return ShowNotFound()
        if missing_users:
            return UserGone("the account no longer exists")
        return StorageUnavailable(f"the change could not be saved ({type(error).__name__}); nothing was changed")

    @staticmethod
    def _refuse(units: list[Unit], error: Exception) -> None:
        for unit in units:
            unit.on_fail(error)

    def _fail(self, units: list[Unit], error: Exception) -> None:
        # Units still queued were decided on top of the failed ones: they fail too, and the actors reload.
        failed = units + list(self._queue)
        self._queue.clear()
        self._queued = 0
        self.stats.failed_batches += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"
        if is_unavailable(error):
            log.warning("journal commit failed, %d units refused: %s", len(failed), self.stats.last_error)
        else:
            log.exception("journal commit failed unexpectedly, %d units refused", len(failed))
        self._refuse(failed, StorageUnavailable("the booking could not be saved; nothing was booked or cancelled"))


Statement = tuple[str, Any, int | None]  # sql, parameters (a list of tuples: executemany), the row count it must report


def _plan(records: list[Record], new_ids: Iterator[int], sql: _BatchSql) -> tuple[list[int | None], list[Statement]]:
    """The booking ids of a batch and the statements that write it, in order."""
    stamp = sql.stamp
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


def _look_up(conn: Connection, user_ids: list[int], show_id: int) -> tuple[set[int], bool]:
    found = set(conn.execute(select(User.id).where(User.id.in_(user_ids))).scalars())
    show = conn.execute(select(func.count()).select_from(Show).where(Show.id == show_id)).scalar_one()
    return set(user_ids) - found, show > 0


class _AsyncWriter:
    """PostgreSQL: the batch's statements on one pooled asyncpg connection, in one transaction."""

    sql: _BatchSql

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.sql = POSTGRESQL

    async def write(self, records: list[Record], fences: Fences, outbox: bool = True) -> list[int | None]:
        books = sum(isinstance(r, BookRecord) for r in records)
        async with self._engine.begin() as conn:
            new_ids: list[int] = []
            if fences or books:
                claim = PG_CLAIM if fences else PG_CLAIM_UNFENCED
                new_ids = sorted((await conn.exec_driver_sql(claim, (books,))).scalar_one())
            ids, statements = _plan(records, iter(new_ids), self.sql)
            *writes, journal = statements
            for statement in writes:
                _check(statement, (await conn.exec_driver_sql(statement[0], statement[1])).rowcount)
            if fences:  # the journal rows and the fence in one statement, its snapshot taken under the lock
                fenced = (*journal[1], list(fences), list(fences.values()))
                stale = (await conn.exec_driver_sql(PG_JOURNAL_FENCED, fenced)).scalars().all()
                if stale:
                    raise StaleShows(set(stale))
            else:
                await conn.exec_driver_sql(journal[0], journal[1])
            events = journal_events(records, ids) if outbox else []
            if events:  # last, so that the outbox lock is held only from here to the commit
                await conn.exec_driver_sql(outbox_sql.PG_LOCK)
                await conn.exec_driver_sql(outbox_sql.PG_INSERT, tuple(list(c) for c in zip(*events, strict=True)))
        return ids

    async def look_up(self, user_ids: list[int], show_id: int) -> tuple[set[int], bool]:
        """Which of `user_ids` no longer exist, and whether the show does."""
        async with self._engine.connect() as conn:
            return await conn.run_sync(_look_up, user_ids, show_id)

    async def close(self) -> None:
        pass


# The fence on PostgreSQL. Every batch takes FENCE_LOCK shared in its first statement (with its booking ids from
# the sequence, safe across writers); every epoch bump (storage.repository's load_show, which is also the cluster's
# lease takeover) takes it exclusive first. The batch reads its shows' epochs in its last statement, whose snapshot
# is taken after that lock is held: a newer epoch was either committed before (and is read, so the unit is
# refused) or waits for this commit (and its loader then reads the batch). One lock per batch, not one per show:
# row locks (FOR SHARE) wrote a tuple lock, with its WAL record, into every show row of every batch.
FENCE_LOCK = 0x66656E6365  # "fence": the advisory lock key of every node on the database (storage.cluster has "cinema")
PG_CLAIM = (
    f"SELECT array(SELECT nextval('bookings_id_seq') FROM generate_series(1, $1::int)) "
    f"FROM pg_advisory_xact_lock_shared({FENCE_LOCK})"
)
PG_CLAIM_UNFENCED = "SELECT array(SELECT nextval('bookings_id_seq') FROM generate_series(1, $1::int))"
PG_JOURNAL_FENCED = (
    "WITH written AS (INSERT INTO seat_journal (show_id, booking_id, hold_id, op, seat_number, user_id, at) "
    "SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::int[], $6::int[], $7::timestamptz[])) "
    "SELECT f.show_id FROM unnest($8::int[], $9::bigint[]) AS f(show_id, epoch) "
    "LEFT JOIN show_owners AS o ON o.show_id = f.show_id WHERE o.epoch IS DISTINCT FROM f.epoch"
)  # the stale shows: none, almost always
# SQLite: the transaction began IMMEDIATE, so it holds the write lock: max(id) + 1 is safe across writers, and
# no new epoch can be committed until this transaction ends. SQLite compares the epochs and names stale shows.
SQLITE_CLAIM = (
    "SELECT (SELECT coalesce(max(id), 0) FROM bookings), (SELECT json_group_array(f.value ->> 0) "
    "FROM json_each(?) AS f LEFT JOIN show_owners AS o ON o.show_id = f.value ->> 0 WHERE o.epoch IS NOT f.value ->> 1)"
)


class _SqliteWriter:
    """SQLite: the whole batch in one hop to a writer thread with its own connection.

    Through aiosqlite every statement, BEGIN and COMMIT is a round trip that waits for a free moment of the busy
    event loop; that waiting, not SQLite, set the commit latency (33 ms for 100 rows under load).
    """

    def __init__(self, url: str) -> None:
        self._engine = open_sync_sqlite(url)
        # BEGIN IMMEDIATE (in _write, and for SQLAlchemy's own transactions): take the write lock before the
        # fence is read, not at the first write.
        event.listen(self._engine, "connect", _driver_autocommit)
        event.listen(self._engine, "begin", _begin_immediate)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-sqlite")
        self.sql = SQLITE

    async def write(self, records: list[Record], fences: Fences, outbox: bool = True) -> list[int | None]:
        return await self._run(self._write, records, fences, outbox)

    async def look_up(self, user_ids: list[int], show_id: int) -> tuple[set[int], bool]:
        return await self._run(self._look_up, user_ids, show_id)

    async def close(self) -> None:
        await self._run(self._engine.dispose)
        self._thread.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _look_up(self, user_ids: list[int], show_id: int) -> tuple[set[int], bool]:
        with self._engine.connect() as conn:
            return _look_up(conn, user_ids, show_id)

    def _write(self, records: list[Record], fences: Fences, outbox: bool) -> list[int | None]:
        """The batch straight through the sqlite3 driver: one call per statement, no SQLAlchemy layers.

        Each driver call gives up the GIL and must win it back from the busy event loop; SQLAlchemy's begin,
        execute and commit steps added Python work between them, all of it holding the GIL."""
        with self._engine.connect() as pooled:  # the pool's one connection, with its pragmas, in autocommit mode
            raw: sqlite3.Connection = pooled.connection.driver_connection  # type: ignore[assignment]
            try:
                raw.execute("BEGIN IMMEDIATE")
                try:
                    claim = raw.execute(SQLITE_CLAIM, (orjson.dumps(list(fences.items())).decode(),))
                    top, stale = claim.fetchone()
                    if stale != "[]":
                        raise StaleShows(set(orjson.loads(stale)))
                    ids, statements = _plan(records, iter(range(top + 1, top + 1 + len(records))), self.sql)
                    for sql, parameters, rows in statements:
                        cursor = (raw.executemany if isinstance(parameters, list) else raw.execute)(sql, parameters)
                        _check((sql, parameters, rows), cursor.rowcount)
                    events = journal_events(records, ids) if outbox else []
                    if events:
                        stamps = {at: _encode_time(at) for at in {event[3] for event in events}}
                        rows_ = [(t, show, data, stamps[at]) for t, show, data, at in events]
                        raw.execute(outbox_sql.SQLITE_INSERT, (orjson.dumps(rows_).decode(),))
                    raw.execute("COMMIT")
                except BaseException:
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:  # as SQLAlchemy would raise it, so is_unavailable() reads it the same
                raise DBAPIError.instance(None, None, error, sqlite3.Error) from error
        return ids


def _driver_autocommit(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below says how a transaction starts


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


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
