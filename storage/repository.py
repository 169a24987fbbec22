"""Reads and the ordinary (non-seat) writes: users, movies, shows. Seat changes go through the journal only."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import Row, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.errors import NotOwner, ShowMoving
from engine.ports import ShowInfo, ShowSnapshot, StorageUnavailable, StoredHold
from storage.database import is_unavailable
from storage.models import (
    BlockedSeat,
    Booking,
    IdempotencyKey,
    JournalEntry,
    Movie,
    SeatHold,
    Show,
    User,
    UTCDateTime,
)

# Take the show's next owner epoch (the first is 1); no row comes back when the show does not exist.
TAKE_EPOCH = text(
    "INSERT INTO show_owners (show_id, epoch, owner, taken_at) SELECT id, 1, :owner, :now FROM shows WHERE id = :id "
    "ON CONFLICT (show_id) DO UPDATE SET epoch = show_owners.epoch + 1, owner = excluded.owner, "
    "taken_at = excluded.taken_at RETURNING epoch"
).bindparams(bindparam("now", type_=UTCDateTime()))
# Cluster mode (PostgreSQL): the same, but only while no other live node holds the show's lease. Taking it
# bumps the epoch, so whatever the previous owner still tries to commit is refused by the journal's fence.
TAKE_LEASE = text(
    "INSERT INTO show_owners (show_id, epoch, owner, taken_at, expires_at) "
    "SELECT id, 1, :owner, now(), now() + make_interval(secs => :lease) FROM shows WHERE id = :id "
    "ON CONFLICT (show_id) DO UPDATE SET epoch = show_owners.epoch + 1, owner = excluded.owner, "
    "taken_at = excluded.taken_at, expires_at = excluded.expires_at "
    "WHERE show_owners.owner = excluded.owner OR show_owners.expires_at IS NULL OR show_owners.expires_at <= now() "
    "RETURNING epoch"
)
# Who holds a lease this node could not take: the owner's address while its heartbeat is fresh.
LEASE_HOLDER = text(
    "SELECT n.url, ceil(EXTRACT(EPOCH FROM o.expires_at - now())) AS left_ FROM show_owners o "
    "LEFT JOIN cluster_nodes n ON n.id = o.owner AND n.expires_at > now() WHERE o.show_id = :id"
)

P = ParamSpec("P")
T = TypeVar("T")


class UsernameTaken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    username: str
    email: str
    password_hash: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class MovieRow:
    id: int
    title: str
    duration_minutes: int


@dataclass(frozen=True, slots=True)
class IdempotencyEntry:
    request_hash: str
    status_code: int | None  # None while the first attempt runs
    body: str | None


@dataclass(frozen=True, slots=True)
class BookingRow:
    id: int
    status: str
    seat_number: int
    created_at: datetime
    show: ShowInfo
    movie: MovieRow


def unavailable_as_storage_error(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turn a database outage into StorageUnavailable so callers answer 503, not 500."""

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except Exception as error:
            if is_unavailable(error):
                raise StorageUnavailable(str(error)) from error
            raise

    return wrapper


SHOW_COLUMNS = (Show.id.label("show_id"), Show.movie_id, Show.screen_name, Show.date_time, Show.total_seats)
USER_COLUMNS = (User.id, User.username, User.email, User.password_hash, User.is_admin)


def _show_info(row: Row[Any]) -> ShowInfo:
    return ShowInfo(row.show_id, row.movie_id, row.screen_name, row.date_time, row.total_seats)


def _layout(stored: str | None) -> list[tuple[str, int]] | None:
    return [(label, seats) for label, seats in orjson.loads(stored)] if stored else None


def _user_row(row: Row[Any] | None) -> UserRow | None:
    return None if row is None else UserRow(row.id, row.username, row.email, row.password_hash, row.is_admin)


class Repository:
    def __init__(self, engine: AsyncEngine, node: str | None = None, lease_seconds: float | None = None) -> None:
        """`lease_seconds`: cluster mode, where a show is loaded only under a lease (see web/cluster.py)."""
        self._engine = engine
        # Who took a show's epoch, recorded beside it (in cluster mode: the node id of the registry).
        self.node = node or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lease_seconds = lease_seconds

    # --- users -------------------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def create_user(self, username: str, email: str, password_hash: str, is_admin: bool = False) -> UserRow:
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    User.__table__.insert().returning(User.__table__.c.id),
                    {
                        "username": username,
                        "email": email,
                        "password_hash": password_hash,
                        "is_admin": is_admin,
                        "created_at": datetime.now(UTC),
                    },
                )
                user_id = result.scalar_one()
        except IntegrityError as error:
            raise UsernameTaken(username) from error
        return UserRow(user_id, username, email, password_hash, is_admin)

    @unavailable_as_storage_error
    async def set_admin(self, username: str, password_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                User.__table__.update()
                .where(User.username == username)
                .values(is_admin=True, password_hash=password_hash)
            )

    @unavailable_as_storage_error
    async def user_by_name(self, username: str) -> UserRow | None:
        async with self._engine.connect() as conn:
            return _user_row((await conn.execute(select(*USER_COLUMNS).where(User.username == username))).one_or_none())

    @unavailable_as_storage_error
    async def user_by_id(self, user_id: int) -> UserRow | None:
        async with self._engine.connect() as conn:
            return _user_row((await conn.execute(select(*USER_COLUMNS).where(User.id == user_id))).one_or_none())

    # --- movies and shows --------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def create_movie(self, title: str, duration_minutes: int) -> MovieRow:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                Movie.__table__.insert().returning(Movie.__table__.c.id),
                {"title": title, "duration_minutes": duration_minutes},
            )
            return MovieRow(result.scalar_one(), title, duration_minutes)

    @unavailable_as_storage_error
    async def movie(self, movie_id: int) -> MovieRow | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(Movie.__table__).where(Movie.id == movie_id))).one_or_none()
        return None if row is None else MovieRow(row.id, row.title, row.duration_minutes)

    @unavailable_as_storage_error
    async def movies_page(self, offset: int, limit: int) -> tuple[int, list[MovieRow]]:
        async with self._engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(Movie))).scalar_one()
            rows = await conn.execute(select(Movie.__table__).order_by(Movie.id).offset(offset).limit(limit))
        return count, [MovieRow(r.id, r.title, r.duration_minutes) for r in rows]

    @unavailable_as_storage_error
    async def create_show(
        self,
        movie_id: int,
        screen_name: str,
        date_time: datetime,
        total_seats: int,
        layout: list[tuple[str, int]] | None = None,
    ) -> ShowInfo:
        date_time = date_time.astimezone(UTC)  # answer with what a later read will return
        async with self._engine.begin() as conn:
            result = await conn.execute(
                Show.__table__.insert().returning(Show.__table__.c.id),
                {
                    "movie_id": movie_id,
                    "screen_name": screen_name,
                    "date_time": date_time,
                    "total_seats": total_seats,
                    "layout": orjson.dumps(layout).decode() if layout else None,
                },
            )
            return ShowInfo(result.scalar_one(), movie_id, screen_name, date_time, total_seats)

    @unavailable_as_storage_error
    async def shows_of_movie(self, movie_id: int) -> list[tuple[ShowInfo, int]]:
        """Each show of the movie with its committed count of seats not available: booked, held or blocked."""
        booked = (
            select(Booking.show_id, func.count().label("booked"))
            .where(Booking.status == "booked")
            .group_by(Booking.show_id)
            .subquery()
        )
        blocked = select(BlockedSeat.show_id, func.count().label("blocked")).group_by(BlockedSeat.show_id).subquery()
        query = (
            select(
                *SHOW_COLUMNS,
                func.coalesce(booked.c.booked, 0).label("booked"),
                func.coalesce(blocked.c.blocked, 0).label("blocked"),
            )
            .outerjoin(booked, booked.c.show_id == Show.id)
            .outerjoin(blocked, blocked.c.show_id == Show.id)
            .where(Show.movie_id == movie_id)
            .order_by(Show.date_time, Show.id)
        )
        held = (
            select(SeatHold.show_id, SeatHold.seats)
            .join(Show, Show.id == SeatHold.show_id)
            .where(Show.movie_id == movie_id, SeatHold.status == "active", SeatHold.expires_at > datetime.now(UTC))
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            held_seats: dict[int, int] = {}
            for hold in await conn.execute(held):
                held_seats[hold.show_id] = held_seats.get(hold.show_id, 0) + len(orjson.loads(hold.seats))
        return [(_show_info(r), r.booked + r.blocked + held_seats.get(r.show_id, 0)) for r in rows]

    # --- bookings (read side) ----------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def bookings_of_user(self, user_id: int) -> list[BookingRow]:
        query = (
            select(
                Booking.id,
                Booking.status,
                Booking.seat_number,
                Booking.created_at,
                *SHOW_COLUMNS,
                Movie.title,
                Movie.duration_minutes,
            )
            .join(Show, Show.id == Booking.show_id)
            .join(Movie, Movie.id == Show.movie_id)
            .where(Booking.user_id == user_id)
            .order_by(Booking.created_at.desc(), Booking.id.desc())
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            BookingRow(
                r.id,
                r.status,
                r.seat_number,
                r.created_at,
                _show_info(r),
                MovieRow(r.movie_id, r.title, r.duration_minutes),
            )
            for r in rows
        ]

    @unavailable_as_storage_error
    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(select(1))

    # --- idempotency keys ---------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def claim_idempotency_key(
        self, user_id: int, key: str, request_hash: str, older_than: float
    ) -> IdempotencyEntry | None:
        """Claim the key (None) or return who holds it; entries from before `older_than` are forgotten first."""
        table = IdempotencyKey.__table__
        cutoff = datetime.fromtimestamp(older_than, UTC)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(table.delete().where(table.c.created_at < cutoff))
                await conn.execute(
                    table.insert(),
                    {"user_id": user_id, "key": key, "request_hash": request_hash, "created_at": datetime.now(UTC)},
                )
            return None
        except IntegrityError:
            entry = await self.idempotency_entry(user_id, key)
            if entry is None:  # released between our insert and our read: try once more
                return await self.claim_idempotency_key(user_id, key, request_hash, older_than)
            return entry

    @unavailable_as_storage_error
    async def idempotency_entry(self, user_id: int, key: str) -> IdempotencyEntry | None:
        table = IdempotencyKey.__table__
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(table.c.request_hash, table.c.status_code, table.c.body).where(
                        table.c.user_id == user_id, table.c.key == key
                    )
                )
            ).one_or_none()
        return None if row is None else IdempotencyEntry(row.request_hash, row.status_code, row.body)

    @unavailable_as_storage_error
    async def finish_idempotency_key(self, user_id: int, key: str, status_code: int, body: str) -> None:
        table = IdempotencyKey.__table__
        async with self._engine.begin() as conn:
            await conn.execute(
                table.update()
                .where(table.c.user_id == user_id, table.c.key == key)
                .values(status_code=status_code, body=body)
            )

    async def forget_idempotency_key(self, user_id: int, key: str) -> None:
        table = IdempotencyKey.__table__
        try:
            async with self._engine.begin() as conn:
                await conn.execute(table.delete().where(table.c.user_id == user_id, table.c.key == key))
        except Exception as error:  # the database is away; the claim stays and a retry waits, then gets a 409
            if not is_unavailable(error):
                raise

    # --- the engine's ShowStore --------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def load_show(self, show_id: int) -> ShowSnapshot | None:
        # The epoch is committed before anything is read: a batch of the previous owner either committed
        # before (and is read below) or checks its epoch after, and is refused.
        async with self._engine.begin() as conn:
            if self._lease_seconds is None:
                taken = await conn.execute(TAKE_EPOCH, {"id": show_id, "owner": self.node, "now": datetime.now(UTC)})
            else:
                taken = await conn.execute(
                    TAKE_LEASE, {"id": show_id, "owner": self.node, "lease": self._lease_seconds}
                )
            epoch = taken.scalar_one_or_none()
            if epoch is None and self._lease_seconds is not None:
                holder = (await conn.execute(LEASE_HOLDER, {"id": show_id})).one_or_none()
                if holder is not None and holder.url is not None:
                    raise NotOwner(show_id, holder.url)
                if holder is not None:  # its node stopped beating: the lease runs out, then the show is free
                    raise ShowMoving(show_id, max(1, int(holder.left_ or 1)))
        if epoch is None:
            return None
        async with self._engine.connect() as conn:
            show = (await conn.execute(select(*SHOW_COLUMNS).where(Show.id == show_id))).one_or_none()
            if show is None:
                return None
            rows = await conn.execute(
                select(Booking.id, Booking.seat_number, Booking.user_id, Booking.status).where(
                    Booking.show_id == show_id
                )
            )
            bookings = [(r.id, r.seat_number, r.user_id, r.status == "booked") for r in rows]
            seq = (
                await conn.execute(
                    select(func.count()).select_from(JournalEntry).where(JournalEntry.show_id == show_id)
                )
            ).scalar_one()
            holds = [
                StoredHold(r.id, r.user_id, tuple(orjson.loads(r.seats)), r.expires_at)
                for r in await conn.execute(
                    select(SeatHold.id, SeatHold.user_id, SeatHold.seats, SeatHold.expires_at).where(
                        SeatHold.show_id == show_id, SeatHold.status == "active"
                    )
                )
            ]
            blocked = list(
                (await conn.execute(select(BlockedSeat.seat_number).where(BlockedSeat.show_id == show_id))).scalars()
            )
            layout = (await conn.execute(select(Show.layout).where(Show.id == show_id))).scalar_one()
        return ShowSnapshot(_show_info(show), bookings, seq, holds, blocked, _layout(layout), epoch)

    @unavailable_as_storage_error
    async def missing_users(self, user_ids: Sequence[int]) -> set[int]:
        async with self._engine.connect() as conn:
            found = set((await conn.execute(select(User.id).where(User.id.in_(user_ids)))).scalars())
        return set(user_ids) - found

    @unavailable_as_storage_error
    async def show_of_hold(self, hold_id: str) -> int | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(SeatHold.show_id).where(SeatHold.id == hold_id))).scalar_one_or_none()

    @unavailable_as_storage_error
    async def show_of_booking(self, booking_id: int) -> int | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(Booking.show_id).where(Booking.id == booking_id))).scalar_one_or_none()
