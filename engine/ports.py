"""What the engine needs from storage. The engine depends on these shapes only, never on a database library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ShowInfo:
    id: int
    movie_id: int
    screen_name: str
    date_time: datetime
    total_seats: int


@dataclass(frozen=True, slots=True)
class ShowSnapshot:
    show: ShowInfo
    bookings: list[tuple[int, int, int, bool]]  # (booking id, seat, user id, is_booked)
    journal_seq: int = 0  # how many journal entries the show has: where its event numbering continues


@dataclass(frozen=True, slots=True)
class BookRecord:
    show_id: int
    user_id: int
    seat_number: int
    at: datetime


@dataclass(frozen=True, slots=True)
class CancelRecord:
    show_id: int
    booking_id: int
    user_id: int
    seat_number: int
    at: datetime


Record = BookRecord | CancelRecord
OnCommit = Callable[[int], None]  # receives the booking id the record created or changed
OnFail = Callable[[Exception], None]


class StorageUnavailable(Exception):
    """The database could not commit or read; nothing was confirmed."""


class Journal(Protocol):
    """Durable, ordered, write-ahead log of seat changes, committed in groups.

    `append` never blocks: callers ask `has_room` first. Exactly one of the callbacks runs for each record, after
    the transaction that holds it has committed or failed. Records are committed in the order appended. When a
    commit fails, every record not yet committed fails too, since later ones may rest on the failed ones.
    """

    def has_room(self) -> bool: ...

    def append(self, record: Record, on_commit: OnCommit, on_fail: OnFail) -> None: ...


class ShowStore(Protocol):
    async def load_show(self, show_id: int) -> ShowSnapshot | None:
        """The show and all its bookings as committed; raises StorageUnavailable."""
        ...

    async def show_of_booking(self, booking_id: int) -> int | None:
        """The show a booking belongs to, or None; raises StorageUnavailable."""
        ...
