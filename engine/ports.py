"""What the engine needs from storage. The engine depends on these shapes only, never on a database library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from engine.layout import Layout, Prices


@dataclass(frozen=True, slots=True)
class ShowInfo:
    id: int
    movie_id: int
    screen_name: str
    date_time: datetime
    total_seats: int


@dataclass(frozen=True, slots=True)
class StoredHold:
    id: str
    user_id: int
    seats: tuple[int, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ShowSnapshot:
    show: ShowInfo
    bookings: list[tuple[int, int, int, bool]]  # (booking id, seat, user id, is_booked)
    journal_seq: int = 0  # how many journal entries the show has: where its event numbering continues
    holds: list[StoredHold] = field(default_factory=list)  # active ones, expired or not
    blocked: list[int] = field(default_factory=list)
    layout: Layout | None = None
    prices: Prices | None = None
    ends_at: datetime | None = None  # the start plus the film's duration
    orders: list[tuple[int, int]] = field(default_factory=list)  # (booking id, order id) where they differ
    checked_in: list[tuple[int, datetime]] = field(default_factory=list)  # (booking id, first scanned)
    epoch: int = 0  # the owner epoch taken by this load: the journal writes the show only while it is current


@dataclass(frozen=True, slots=True)
class BookRecord:
    show_id: int
    user_id: int
    seat_number: int
    at: datetime
    order_start: bool = True  # False: the same order as the booking before it in the unit


@dataclass(frozen=True, slots=True)
class CancelRecord:
    show_id: int
    booking_id: int
    user_id: int
    seat_number: int
    at: datetime
    order_id: int = 0  # the order the booking belongs to (0: unknown); for the outbox's events
    ends_order: bool = False  # the order's last live seat: its order.cancelled event goes with this record


@dataclass(frozen=True, slots=True)
class HoldRecord:
    show_id: int
    hold_id: str
    user_id: int
    seats: tuple[int, ...]
    expires_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class HoldEndRecord:
    show_id: int
    hold_id: str
    user_id: int
    seats: tuple[int, ...]
    status: str  # confirmed, released or expired
    at: datetime


@dataclass(frozen=True, slots=True)
class BlockRecord:
    show_id: int
    user_id: int  # the admin who did it
    seats: tuple[int, ...]
    blocked: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class CheckInRecord:
    show_id: int
    booking_id: int
    user_id: int  # the staff member who scanned it
    seat_number: int
    at: datetime


Record = BookRecord | CancelRecord | HoldRecord | HoldEndRecord | BlockRecord | CheckInRecord
OnCommit = Callable[[list[int | None]], None]  # per record of the unit: the booking id it created or changed
OnFail = Callable[[Exception], None]


class StorageUnavailable(Exception):
    """The database could not commit or read; nothing was confirmed."""


class StaleOwner(StorageUnavailable):
    """The show was loaded again (by this process or another) since this change was decided: it was refused."""


class UserGone(Exception):
    """The change names a user who no longer exists (deleted since the token was checked); nothing was changed."""


class Journal(Protocol):
    """Durable, ordered, write-ahead log of seat changes, committed in groups.

    `append` takes a unit: records that commit together or not at all (a multi-seat booking, a confirmed hold).
    It never blocks: callers ask `has_room` first. Exactly one of the callbacks runs for each unit, after
    the transaction that holds it has committed or failed. Records are committed in the order appended.
    `epoch` is the owner epoch the deciding actor loaded its show with: a unit whose show has been loaded again
    since is refused with StaleOwner (the fence that keeps two deciders for one show from both committing).
    A unit refused for its own data (its user was deleted: UserGone) fails alone. When the database is
    unavailable, every record not yet committed fails too, since later ones may rest on the failed ones.
    """

    def has_room(self, records: int = 1) -> bool: ...

    def append(self, unit: Sequence[Record], epoch: int, on_commit: OnCommit, on_fail: OnFail) -> None: ...


class ShowStore(Protocol):
    async def load_show(self, show_id: int) -> ShowSnapshot | None:
        """Take the show's next owner epoch, then read it and all its bookings as committed (after the epoch
        is committed, so nothing a stale owner could still write is missing); raises StorageUnavailable."""
        ...

    async def missing_users(self, user_ids: Sequence[int]) -> set[int]:
        """Those of `user_ids` that no longer exist; raises StorageUnavailable."""
        ...

    async def show_of_booking(self, booking_id: int) -> int | None:
        """The show a booking belongs to, or None; raises StorageUnavailable."""
        ...

    async def show_of_hold(self, hold_id: str) -> int | None:
        """The show a hold belongs to, or None; raises StorageUnavailable."""
        ...
