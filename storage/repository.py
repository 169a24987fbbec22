"""Reads and the ordinary (non-seat) writes: users, movies, shows. Seat changes go through the journal only."""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import JSON, Row, bindparam, cast, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.bands import plain_rows, seat_bands
from engine.consistency import UNJOURNALED, Key, contested
from engine.errors import NotOwner, ShowMoving
from engine.layout import Layout, Prices, layout_from_stored, plain_layout
from engine.ports import ShowInfo, ShowSnapshot, StorageUnavailable, StoredEntry, StoredHold
from storage.database import is_unavailable
from storage.journal import FENCE_LOCK
from storage.models import (
    WAITLIST_LIVE,
    BlockedSeat,
    Booking,
    CounterSale,
    IdempotencyKey,
    JournalEntry,
    Movie,
    RefreshToken,
    Refund,
    Screen,
    SeatBand,
    SeatHold,
    Show,
    ShowOwner,
    User,
    UTCDateTime,
    WaitlistEntry,
)
from storage.outbox import emit
from storage.usernames import username_key

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

CREATE_SCREEN_ONCE = text(
    "INSERT INTO screens (name, layout, total_seats, schedule_version, created_at) "
    "VALUES (:name, :layout, :seats, 0, :now) ON CONFLICT (name) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()))

P = ParamSpec("P")
T = TypeVar("T")


class UsernameTaken(Exception):
    pass


class Refresh(StrEnum):
    """What became of a refresh token presented for rotation."""

    ROTATED = "rotated"  # it was live; it is spent now and its successor is stored
    REUSED = "refresh_reused"  # it was already spent: its whole family is revoked now
    REVOKED = "refresh_revoked"  # its family was revoked earlier
    UNKNOWN = "refresh_unknown"  # never stored (e.g. issued before rotation existed) or expired


class ScreenNameTaken(Exception):
    pass


class ScreenNotFound(Exception):
    pass


class MovieNotFound(Exception):
    pass


class ScreenSizeDiffers(Exception):
    """A show created the seed's way names an existing screen, but with another number of seats."""

    def __init__(self, name: str, total_seats: int) -> None:
        super().__init__(name)
        self.name, self.total_seats = name, total_seats


class ScheduleClash(Exception):
    """The new show would overlap `show` on the same screen (film plus cleaning gap)."""

    def __init__(self, show_id: int, starts: datetime, ends: datetime) -> None:
        super().__init__(f"show {show_id}")
        self.show_id, self.starts, self.ends = show_id, starts, ends


@dataclass(frozen=True, slots=True)
class ScreenRow:
    id: int
    name: str
    layout: Layout


@dataclass(frozen=True, slots=True)
class ShowListing:
    show: ShowInfo
    taken: int  # seats booked, held or blocked, as committed
    prices: Prices | None
    screen_id: int | None


@dataclass(frozen=True, slots=True)
class OrderSeat:
    booking_id: int
    seat_number: int
    status: str
    checked_in_at: datetime | None
    ticket_type: str = "adult"
    price: int | None = None  # as sold; None for bookings from before prices were recorded


@dataclass(frozen=True, slots=True)
class SaleRow:
    """A counter sale's details (storage/models.py CounterSale)."""

    sold_by: int
    sold_by_username: str | None  # None once the staff account is gone
    payment: str
    customer_name: str | None
    customer_email: str | None


@dataclass(frozen=True, slots=True)
class RefundRow:
    seats: tuple[int, ...]
    amount: int
    currency: str | None
    method: str
    refunded_by: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    user_id: int
    created_at: datetime
    show: ShowInfo
    movie: MovieRow
    layout: Layout | None
    prices: Prices | None
    seats: list[OrderSeat]
    sale: SaleRow | None = None  # counter orders only
    refunds: list[RefundRow] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return "online" if self.sale is None else "counter"

    @property
    def status(self) -> str:
        statuses = {seat.status for seat in self.seats}
        return statuses.pop() if len(statuses) == 1 else "partly_cancelled"


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    username: str
    email: str
    password_hash: str
    is_admin: bool
    is_staff: bool = False
    token_version: int = 0  # bumped by each password change: tokens of an older version are void


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
class WaitlistRow:
    entry_id: str
    show: ShowInfo
    party_size: int
    together: bool
    status: str  # waiting or offered
    position: int
    created_at: datetime
    hold_id: str | None  # the offer, while it is live
    seats: tuple[int, ...]
    expires_at: datetime | None


async def _waitlist_of_show(conn: AsyncConnection, show_id: int) -> tuple[list[StoredEntry], int, int]:
    """A show's live entries in joining order, the number its next entry gets, and how many offers it made."""
    table = WaitlistEntry
    entries = [
        StoredEntry(r.id, r.user_id, r.party_size, r.together, r.number, r.hold_id if r.status == "offered" else None)
        for r in await conn.execute(
            select(table.id, table.user_id, table.party_size, table.together, table.number, table.status, table.hold_id)
            .where(table.show_id == show_id, table.status.in_(WAITLIST_LIVE))
            .order_by(table.number)
        )
    ]
    top, offers = (
        await conn.execute(
            select(func.coalesce(func.max(table.number), 0), func.count(table.hold_id)).where(table.show_id == show_id)
        )
    ).one()
    return entries, top + 1, offers


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
USER_COLUMNS = (
    User.id,
    User.username,
    User.email,
    User.password_hash,
    User.is_admin,
    User.is_staff,
    User.token_version,
)


def _show_info(row: Row[Any]) -> ShowInfo:
    return ShowInfo(row.show_id, row.movie_id, row.screen_name, row.date_time, row.total_seats)


def _layout(stored: str | None) -> Layout | None:
    return layout_from_stored(orjson.loads(stored)) if stored else None


def _prices(stored: str | None, currency: str | None) -> Prices | None:
    return Prices(orjson.loads(stored), currency or "") if stored else None


def _user_row(row: Row[Any] | None) -> UserRow | None:
    if row is None:
        return None
    return UserRow(row.id, row.username, row.email, row.password_hash, row.is_admin, row.is_staff, row.token_version)


async def _change_password(conn: AsyncConnection, which: Any, password_hash: str, roles: dict[str, bool]) -> None:
    """The one place a password changes. In the same transaction every refresh family of the user is revoked
    and the user's token version bumped, so the logins of before the change end: refresh tokens at once, access
    tokens at their next user recheck (web/security/auth.py). Whoever had the old password keeps nothing."""
    users = User.__table__
    changed = await conn.execute(
        users.update()
        .where(which)
        .values(password_hash=password_hash, token_version=users.c.token_version + 1, **roles)
        .returning(users.c.id)
    )
    ids = list(changed.scalars())
    if ids:
        tokens = RefreshToken.__table__
        await conn.execute(tokens.update().where(tokens.c.user_id.in_(ids)).values(revoked=True))


async def _decision_order(
    conn: AsyncConnection, show_id: int, disputed: set[Key], bookings: Sequence[Row[Any]], holds: Sequence[Row[Any]]
) -> dict[Key, tuple[int, float]]:
    """When each contested decision was made: its journal sequence number (its first `book` or `hold` entry),
    and its row's creation time (engine/consistency.py orders by both)."""
    booking_ids = [ident for kind, ident in disputed if kind == "booking"]
    hold_ids = [str(ident) for kind, ident in disputed if kind == "hold"]
    journal = JournalEntry.__table__.c
    first = func.min(journal.seq)
    seqs: dict[Key, int] = {}
    if booking_ids:
        found = await conn.execute(
            select(journal.booking_id, first)
            .where(journal.show_id == show_id, journal.op == "book", journal.booking_id.in_(booking_ids))
            .group_by(journal.booking_id)
        )
        seqs.update({("booking", booking_id): seq for booking_id, seq in found})
    if hold_ids:
        found = await conn.execute(
            select(journal.hold_id, first)
            .where(journal.show_id == show_id, journal.op == "hold", journal.hold_id.in_(hold_ids))
            .group_by(journal.hold_id)
        )
        seqs.update({("hold", hold_id): seq for hold_id, seq in found})
    created: dict[Key, datetime] = {("booking", r.id): r.created_at for r in bookings}
    created.update({("hold", r.id): r.created_at for r in holds})
    return {key: (seqs.get(key, UNJOURNALED), created[key].timestamp() if key in created else 0.0) for key in disputed}


class Repository:
    def __init__(self, engine: AsyncEngine, node: str | None = None, lease_seconds: float | None = None) -> None:
        """`lease_seconds`: cluster mode, where a show is loaded only under a lease (see web/cluster/membership.py)."""
        self._engine = engine
        # Who took a show's epoch, recorded beside it (in cluster mode: the node id of the registry).
        self.node = node or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lease_seconds = lease_seconds

    @property
    def database(self) -> AsyncEngine:
        """For the read-only report modules beside this one (storage/history.py)."""
        return self._engine

    # --- users -------------------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def create_user(
        self, username: str, email: str, password_hash: str, is_admin: bool = False, is_staff: bool = False
    ) -> UserRow:
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    User.__table__.insert().returning(User.__table__.c.id),
                    {
                        "username": username,
                        "username_key": username_key(username),
                        "email": email,
                        "password_hash": password_hash,
                        "is_admin": is_admin,
                        "is_staff": is_staff,
                        "created_at": datetime.now(UTC),
                    },
                )
                user_id = result.scalar_one()
        except IntegrityError as error:
            raise UsernameTaken(username) from error
        return UserRow(user_id, username, email, password_hash, is_admin, is_staff)

    @unavailable_as_storage_error
    async def set_admin(self, username: str, password_hash: str, role: str = "is_admin") -> None:
        """Give an existing user a role (`is_admin` or `is_staff`) and a new password."""
        assert role in ("is_admin", "is_staff"), role
        async with self._engine.begin() as conn:
            await _change_password(conn, User.username_key == username_key(username), password_hash, {role: True})

    @unavailable_as_storage_error
    async def change_password(self, user_id: int, password_hash: str) -> None:
        """A new password for the user, ending every login of before it (see _change_password)."""
        async with self._engine.begin() as conn:
            await _change_password(conn, User.id == user_id, password_hash, {})

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

    # --- screens -----------------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def create_screen(self, name: str, layout: Layout) -> ScreenRow:
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    Screen.__table__.insert().returning(Screen.__table__.c.id),
                    {
                        "name": name,
                        "layout": orjson.dumps(layout.stored()).decode(),
                        "total_seats": layout.total_seats,
                        "created_at": datetime.now(UTC),
                    },
                )
                return ScreenRow(result.scalar_one(), name, layout)
        except IntegrityError as error:
            raise ScreenNameTaken(name) from error

    @unavailable_as_storage_error
    async def screens(self) -> list[ScreenRow]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(Screen.id, Screen.name, Screen.layout).order_by(Screen.id))
            return [ScreenRow(r.id, r.name, layout_from_stored(orjson.loads(r.layout))) for r in rows]  # type: ignore[arg-type]

    @unavailable_as_storage_error
    async def screen(self, screen_id: int) -> ScreenRow | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(Screen.id, Screen.name, Screen.layout).where(Screen.id == screen_id))
            ).one_or_none()
        return None if row is None else ScreenRow(row.id, row.name, layout_from_stored(orjson.loads(row.layout)))  # type: ignore[arg-type]

    # --- movies and shows --------------------------------------------------------------------------------
    async def create_show(self, *args: Any, **kwargs: Any) -> ShowInfo:
        """schedule_show, for callers that need only the show."""
        return (await self.schedule_show(*args, **kwargs))[0]

    @unavailable_as_storage_error
    async def schedule_show(
        self,
        movie_id: int,
        screen_name: str,
        date_time: datetime,
        total_seats: int,
        layout: Layout | None = None,
        *,
        screen_id: int | None = None,
        prices: Prices | None = None,
        cleaning: timedelta = timedelta(0),
    ) -> tuple[ShowInfo, int]:
        """Insert a show on its screen (the show and its screen's id): `screen_id`, or the screen named
        `screen_name` (created, with a plain layout of `total_seats` or `layout`'s rows, when no screen has that
        name). First lock the screen's row, then refuse an overlap (ScheduleClash): two admins scheduling the same
        screen at once are serialised by that lock, so one of them sees the other. A show named onto an existing
        screen takes its layout unless it gives rows."""
        date_time = date_time.astimezone(UTC)  # answer with what a later read will return
        async with self._engine.begin() as conn:
            duration = (
                await conn.execute(select(Movie.duration_minutes).where(Movie.id == movie_id))
            ).scalar_one_or_none()
            if duration is None:
                raise MovieNotFound(movie_id)
            ends_at = date_time + timedelta(minutes=duration)
            if screen_id is None:
                screen_id, screen_layout = await self._screen_named(conn, screen_name, total_seats, layout)
                if layout is None and screen_layout is not None and screen_layout.detailed:
                    layout = screen_layout
            screens = Screen.__table__
            locked = await conn.execute(
                update(screens).where(screens.c.id == screen_id).values(schedule_version=screens.c.schedule_version + 1)
            )
            if locked.rowcount != 1:
                raise ScreenNotFound(screen_id)
            clash = (
                await conn.execute(
                    select(Show.id, Show.date_time, Show.ends_at)
                    .where(
                        Show.screen_id == screen_id,
                        Show.date_time < ends_at + cleaning,
                        Show.ends_at > date_time - cleaning,
                    )
                    .order_by(Show.date_time)
                    .limit(1)
                )
            ).one_or_none()
            if clash is not None:
                raise ScheduleClash(clash.id, clash.date_time, clash.ends_at)
            result = await conn.execute(
                Show.__table__.insert().returning(Show.__table__.c.id),
                {
                    "movie_id": movie_id,
                    "screen_name": screen_name,
                    "date_time": date_time,
                    "total_seats": total_seats,
                    "layout": orjson.dumps(layout.stored()).decode() if layout else None,
                    "screen_id": screen_id,
                    "ends_at": ends_at,
                    "prices": orjson.dumps(prices.amounts).decode() if prices else None,
                    "currency": prices.currency if prices else None,
                },
            )
            show_id = result.scalar_one()
            await conn.execute(
                SeatBand.__table__.insert(),
                [{"show_id": show_id, **dataclasses.asdict(band)} for band in seat_bands(total_seats, layout, prices)],
            )
            await emit(conn, "show.created", {}, show_id)  # its details are added when the event is read
            return ShowInfo(show_id, movie_id, screen_name, date_time, total_seats), screen_id

    async def _screen_named(
        self, conn: AsyncConnection, name: str, total_seats: int, layout: Layout | None
    ) -> tuple[int, Layout | None]:
        """The screen called `name`, created when there is none (racing creators: the first insert wins)."""
        plain = layout or plain_layout(plain_rows(total_seats))
        await conn.execute(
            CREATE_SCREEN_ONCE,
            {
                "name": name,
                "layout": orjson.dumps(plain.stored()).decode(),
                "seats": total_seats,
                "now": datetime.now(UTC),
            },
        )
        row = (
            await conn.execute(select(Screen.id, Screen.total_seats, Screen.layout).where(Screen.name == name))
        ).one()
        if row.total_seats != total_seats:
            raise ScreenSizeDiffers(name, row.total_seats)
        return row.id, _layout(row.layout)

    @unavailable_as_storage_error
    async def show(self, show_id: int) -> ShowInfo | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*SHOW_COLUMNS).where(Show.id == show_id))).one_or_none()
        return None if row is None else _show_info(row)

    @unavailable_as_storage_error
    async def shows_of_movie(self, movie_id: int) -> list[ShowListing]:
        """Each show of the movie with its committed count of seats not available (booked, held or blocked) and
        its prices."""
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
                Show.prices,
                Show.currency,
                Show.screen_id,
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
        return [
            ShowListing(
                _show_info(r),
                r.booked + r.blocked + held_seats.get(r.show_id, 0),
                _prices(r.prices, r.currency),
                r.screen_id,
            )
            for r in rows
        ]

    @unavailable_as_storage_error
    async def programme(
        self,
        starts: datetime | None,
        ends: datetime | None,
        *,
        movie_id: int | None = None,
        screen_id: int | None = None,
        show_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[int, list[ProgrammeEntry]]:
        """Shows starting in [starts, ends), in order of their start, a page at a time, with how many there are."""
        conditions = []
        if show_id is not None:  # one show as the programme lists it (GET /shows/{id}/, the door's count)
            conditions.append(Show.id == show_id)
        if starts is not None:
            conditions.append(Show.date_time >= starts)
        if ends is not None:
            conditions.append(Show.date_time < ends)
        if movie_id is not None:
            conditions.append(Show.movie_id == movie_id)
        if screen_id is not None:
            conditions.append(Show.screen_id == screen_id)
        taken = taken_seats_of_show(self._engine.dialect.name, datetime.now(UTC)).label("taken")
        query = (
            select(
                *SHOW_COLUMNS,
                Show.prices,
                Show.currency,
                Show.screen_id,
                Show.ends_at,
                Movie.title,
                Movie.duration_minutes,
                taken,
            )
            .join(Movie, Movie.id == Show.movie_id)
            .where(*conditions)
            .order_by(Show.date_time, Show.id)
            .offset(offset)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(Show).where(*conditions))).scalar_one()
            rows = (await conn.execute(query)).all()
        return count, [
            ProgrammeEntry(
                ShowListing(_show_info(r), r.taken, _prices(r.prices, r.currency), r.screen_id),
                MovieRow(r.movie_id, r.title, r.duration_minutes),
                r.ends_at,
            )
            for r in rows
        ]

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

    # --- orders (read side) ------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def orders(
        self, *, user_id: int | None = None, order_id: int | None = None, order_ids: Sequence[int] | None = None
    ) -> list[OrderRow]:
        """The orders of a user (newest first), the one order `order_id`, or the orders `order_ids`, with their
        seats, and for counter orders the sale's details, and their refunds."""
        order = func.coalesce(Booking.order_id, Booking.id)
        query = (
            select(
                order.label("order_id"),
                Booking.id,
                Booking.user_id,
                Booking.seat_number,
                Booking.status,
                Booking.created_at,
                Booking.checked_in_at,
                Booking.ticket_type,
                Booking.price,
                *SHOW_COLUMNS,
                Show.layout,
                Show.prices,
                Show.currency,
                Movie.title,
                Movie.duration_minutes,
            )
            .join(Show, Show.id == Booking.show_id)
            .join(Movie, Movie.id == Show.movie_id)
            .order_by(order.desc(), Booking.id)
        )
        if user_id is not None:
            query = query.where(Booking.user_id == user_id)
        if order_id is not None:
            query = query.where(order == order_id)
        if order_ids is not None:
            query = query.where(order.in_(list(order_ids)))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            found_ids = sorted({r.order_id for r in rows})
            sales, refunds = await self._sales_and_refunds(conn, found_ids)
        layouts: dict[int, Layout | None] = {}  # parsed once per show, not once per order
        found: dict[int, OrderRow] = {}
        for r in rows:
            entry = found.get(r.order_id)
            if entry is None:
                if r.show_id not in layouts:
                    layouts[r.show_id] = _layout(r.layout)
                entry = found[r.order_id] = OrderRow(
                    r.order_id,
                    r.user_id,
                    r.created_at,
                    _show_info(r),
                    MovieRow(r.movie_id, r.title, r.duration_minutes),
                    layouts[r.show_id],
                    _prices(r.prices, r.currency),
                    [],
                    sales.get(r.order_id),
                    refunds.get(r.order_id, []),
                )
            seat = OrderSeat(r.id, r.seat_number, r.status, r.checked_in_at, r.ticket_type or "adult", r.price)
            entry.seats.append(seat)
        return list(found.values())

    @staticmethod
    async def _sales_and_refunds(
        conn: Any, order_ids: list[int]
    ) -> tuple[dict[int, SaleRow], dict[int, list[RefundRow]]]:
        if not order_ids:
            return {}, {}
        sale_rows = await conn.execute(
            select(
                CounterSale.order_id,
                CounterSale.sold_by,
                User.username,
                CounterSale.payment,
                CounterSale.customer_name,
                CounterSale.customer_email,
            )
            .outerjoin(User, User.id == CounterSale.sold_by)
            .where(CounterSale.order_id.in_(order_ids))
        )
        sales = {
            r.order_id: SaleRow(r.sold_by, r.username, r.payment, r.customer_name, r.customer_email) for r in sale_rows
        }
        refunds: dict[int, list[RefundRow]] = {}
        for r in await conn.execute(select(Refund.__table__).where(Refund.order_id.in_(order_ids)).order_by(Refund.id)):
            refunds.setdefault(r.order_id, []).append(
                RefundRow(tuple(orjson.loads(r.seats)), r.amount, r.currency, r.method, r.refunded_by, r.at)
            )
        return sales, refunds

    @unavailable_as_storage_error
    async def orders_page(
        self, offset: int, limit: int, *, show_id: int | None = None, channel: str | None = None
    ) -> tuple[int, list[OrderRow]]:
        """All orders (newest first), of one show and one channel (counter or online) when given: the count, and
        the page's orders. An order is found by its first booking, whose id names it."""
        first = (
            select(Booking.id)
            .outerjoin(CounterSale, CounterSale.order_id == Booking.id)
            .where(func.coalesce(Booking.order_id, Booking.id) == Booking.id)
        )
        if show_id is not None:
            first = first.where(Booking.show_id == show_id)
        if channel == "counter":
            first = first.where(CounterSale.order_id.is_not(None))
        elif channel == "online":
            first = first.where(CounterSale.order_id.is_(None))
        async with self._engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(first.subquery()))).scalar_one()
            ids = list((await conn.execute(first.order_by(Booking.id.desc()).offset(offset).limit(limit))).scalars())
        if not ids:
            return count, []
        return count, await self.orders(order_ids=ids)

    @unavailable_as_storage_error
    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(select(1))

    # --- refresh tokens -----------------------------------------------------------------------------------
    @unavailable_as_storage_error
    async def store_refresh_token(self, token_id: str, family: str, user_id: int, expires_at: datetime) -> None:
        """A new login's first refresh token; expired ones are dropped here, so the table stays bounded."""
        table = RefreshToken.__table__
        async with self._engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.expires_at < datetime.now(UTC)))
            await conn.execute(
                table.insert(), {"id": token_id, "family": family, "user_id": user_id, "expires_at": expires_at}
            )

    @unavailable_as_storage_error
    async def rotate_refresh_token(self, token_id: str, successor: str, user_id: int, expires_at: datetime) -> Refresh:
        """Spend `token_id` and store `successor` in its family, in one transaction. Of two racing uses of one
        token exactly one wins (the conditional update); the loser is a reuse and revokes the family."""
        table = RefreshToken.__table__
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            spent = await conn.execute(
                table.update()
                .where(
                    table.c.id == token_id,
                    table.c.user_id == user_id,
                    table.c.used_at.is_(None),
                    table.c.revoked.is_(False),
                    table.c.expires_at > now,
                )
                .values(used_at=now)
            )
            row = (
                await conn.execute(select(table.c.family, table.c.revoked).where(table.c.id == token_id))
            ).one_or_none()
            if spent.rowcount == 1:
                assert row is not None
                await conn.execute(
                    table.insert(),
                    {"id": successor, "family": row.family, "user_id": user_id, "expires_at": expires_at},
                )
                return Refresh.ROTATED
            if row is None:
                return Refresh.UNKNOWN
            if row.revoked:
                return Refresh.REVOKED
            await conn.execute(table.update().where(table.c.family == row.family).values(revoked=True))
            return Refresh.REUSED

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
            if self._engine.dialect.name == "postgresql":  # wait for batches that read the old epoch; see FENCE_LOCK
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({FENCE_LOCK})")
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
            rows = (
                await conn.execute(
                    select(
                        Booking.id,
                        Booking.seat_number,
                        Booking.user_id,
                        Booking.status,
                        Booking.order_id,
                        Booking.checked_in_at,
                        Booking.price,
                        Booking.created_at,
                    ).where(Booking.show_id == show_id)
                )
            ).all()
            bookings = [(r.id, r.seat_number, r.user_id, r.status == "booked") for r in rows]
            orders = [(r.id, r.order_id) for r in rows if r.order_id is not None and r.order_id != r.id]
            checked_in = [(r.id, r.checked_in_at) for r in rows if r.checked_in_at is not None]
            paid = [(r.id, r.price) for r in rows if r.price is not None and r.status == "booked"]
            seq = (
                await conn.execute(
                    select(func.count()).select_from(JournalEntry).where(JournalEntry.show_id == show_id)
                )
            ).scalar_one()
            hold_rows = (
                await conn.execute(
                    select(
                        SeatHold.id,
                        SeatHold.user_id,
                        SeatHold.seats,
                        SeatHold.expires_at,
                        SeatHold.ticket_types,
                        SeatHold.created_at,
                    ).where(SeatHold.show_id == show_id, SeatHold.status == "active")
                )
            ).all()
            holds = [
                StoredHold(
                    r.id,
                    r.user_id,
                    tuple(orjson.loads(r.seats)),
                    r.expires_at,
                    tuple(orjson.loads(r.ticket_types)) if r.ticket_types else (),
                )
                for r in hold_rows
            ]
            blocked = list(
                (await conn.execute(select(BlockedSeat.seat_number).where(BlockedSeat.show_id == show_id))).scalars()
            )
            disputed = contested(show.total_seats, bookings, holds, blocked)  # empty for a sound show
            order = await _decision_order(conn, show_id, disputed, rows, hold_rows) if disputed else {}
            waitlist, waitlist_next, offers = await _waitlist_of_show(conn, show_id)
            seq += offers  # each offer was one event of the show's stream (engine/feed.py)
            extra = (
                await conn.execute(
                    select(Show.layout, Show.prices, Show.currency, Show.ends_at, Movie.duration_minutes)
                    .join(Movie, Movie.id == Show.movie_id)
                    .where(Show.id == show_id)
                )
            ).one()
        info = _show_info(show)
        ends_at = extra.ends_at or info.date_time + timedelta(minutes=extra.duration_minutes)
        return ShowSnapshot(
            info,
            bookings,
            seq,
            holds,
            blocked,
            _layout(extra.layout),
            _prices(extra.prices, extra.currency),
            ends_at,
            orders,
            checked_in,
            epoch,
            paid,
            order,
            waitlist,
            waitlist_next,
        )

    @unavailable_as_storage_error
    async def void_holds(self, show_id: int, hold_ids: Sequence[str], epoch: int) -> None:
        owned = select(ShowOwner.show_id).where(ShowOwner.show_id == show_id, ShowOwner.epoch == epoch).exists()
        async with self._engine.begin() as conn:
            await conn.execute(
                update(SeatHold)
                .where(SeatHold.show_id == show_id, SeatHold.id.in_(hold_ids), SeatHold.status == "active", owned)
                .values(status="released", ended_at=datetime.now(UTC))
            )

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
    async def show_of_waitlist_entry(self, entry_id: str) -> int | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(select(WaitlistEntry.show_id).where(WaitlistEntry.id == entry_id))
            ).scalar_one_or_none()

    @unavailable_as_storage_error
    async def shows_with_waitlist_offers(self, limit: int) -> list[int]:
        """Shows whose waiting list holds live offers (at most `limit`): woken at start-up, so that offers which
        expired while the service was down pass to the next entry without waiting for someone to look."""
        query = (
            select(WaitlistEntry.show_id)
            .where(WaitlistEntry.status == "offered")
            .group_by(WaitlistEntry.show_id)
            .order_by(WaitlistEntry.show_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    @unavailable_as_storage_error
    async def waitlist_of_user(self, user_id: int) -> list[WaitlistRow]:
        """The user's live waiting-list entries, oldest first, each with its place in its show's list and the
        seats and expiry of its offer, if it has one."""
        mine = WaitlistEntry.__table__.alias("mine")
        ahead = WaitlistEntry.__table__.alias("ahead")
        position = (
            select(func.count())
            .where(
                ahead.c.show_id == mine.c.show_id, ahead.c.status.in_(WAITLIST_LIVE), ahead.c.number <= mine.c.number
            )
            .scalar_subquery()
        )
        query = (
            select(
                mine.c.id,
                mine.c.party_size,
                mine.c.together,
                mine.c.status,
                mine.c.created_at,
                mine.c.hold_id,
                position.label("position"),
                SeatHold.seats,
                SeatHold.expires_at,
                *SHOW_COLUMNS,
            )
            .join(Show, Show.id == mine.c.show_id)
            .outerjoin(SeatHold, (SeatHold.id == mine.c.hold_id) & (SeatHold.status == "active"))
            .where(mine.c.user_id == user_id, mine.c.status.in_(WAITLIST_LIVE))
            .order_by(mine.c.created_at, mine.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            WaitlistRow(
                r.id,
                _show_info(r),
                r.party_size,
                r.together,
                r.status,
                r.position,
                r.created_at,
                r.hold_id if r.seats is not None else None,
                tuple(orjson.loads(r.seats)) if r.seats is not None else (),
                r.expires_at,
            )
            for r in rows
        ]

    @unavailable_as_storage_error
    async def show_of_booking(self, booking_id: int) -> int | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(Booking.show_id).where(Booking.id == booking_id))).scalar_one_or_none()

    # --- the door (web/api/tickets.py) -------------------------------------------------------------------
    @unavailable_as_storage_error
    async def door_counts(self, show_id: int) -> tuple[int, int]:
        """(tickets sold, tickets scanned in) of a show, as committed."""
        query = select(func.count(), func.count(Booking.checked_in_at)).where(
            Booking.show_id == show_id, Booking.status == "booked"
        )
        async with self._engine.connect() as conn:
            sold, admitted = (await conn.execute(query)).one()
        return int(sold), int(admitted)

    @unavailable_as_storage_error
    async def checked_in_by(self, booking_id: int) -> int | None:
        """The staff user who scanned the ticket in (None: not scanned)."""
        async with self._engine.connect() as conn:
            return (
                await conn.execute(select(Booking.checked_in_by).where(Booking.id == booking_id))
            ).scalar_one_or_none()

    @unavailable_as_storage_error
    async def ticket_type_of(self, booking_id: int) -> str:
        """The booking's ticket type (adult for bookings from before ticket types)."""
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(Booking.ticket_type).where(Booking.id == booking_id))).scalar()
        return found or "adult"


# --- the programme: shows by time, with their movie and availability --------------------------------------


@dataclass(frozen=True, slots=True)
class ProgrammeEntry:
    listing: ShowListing
    movie: MovieRow
    ends_at: datetime | None


def held_seats_of_show(dialect: str, now: datetime) -> Any:
    """Seats in the show's live holds (a correlated subquery on `shows`): each hold keeps its seats as a JSON list."""
    seats = func.json_array_length(SeatHold.seats if dialect == "sqlite" else cast(SeatHold.seats, JSON))
    return (
        select(func.coalesce(func.sum(seats), 0))
        .where(SeatHold.show_id == Show.id, SeatHold.status == "active", SeatHold.expires_at > now)
        .scalar_subquery()
    )


def taken_seats_of_show(dialect: str, now: datetime) -> Any:
    """Booked + blocked + held seats of the show, as committed (correlated: one index probe per show)."""
    booked = select(func.count()).where(Booking.show_id == Show.id, Booking.status == "booked").scalar_subquery()
    blocked = select(func.count()).where(BlockedSeat.show_id == Show.id).scalar_subquery()
    return booked + blocked + held_seats_of_show(dialect, now)
