"""The seat rules of one show: plain data and functions, no I/O, no asyncio.

The actor calls `decide` and, only when the outcome is accepted, `apply`. Keeping the two apart lets the
rules be tested exhaustively without a database and lets the actor refuse work before touching state.

A seat is in at most one of: booked (`holders`), held (`held`), blocked (`blocked`); otherwise it is free.

Hoarding: a command may carry `seat_limit`, the most seats one user may hold and book together in this show
(the engine's configuration sets it; 0 means none). `per_user` counts them, so the check costs a dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    HELD = "held"
    HOLD_CONFIRMED = "hold_confirmed"
    HOLD_RELEASED = "hold_released"
    BLOCKING_CHANGED = "blocking_changed"
    SEAT_TAKEN = "seat_taken"
    SEATS_UNAVAILABLE = "seats_unavailable"
    SEAT_OUT_OF_RANGE = "seat_out_of_range"
    SOLD_OUT = "sold_out"
    NO_ADJACENT_SEATS = "no_adjacent_seats"
    NOT_OWNER = "not_owner"
    ALREADY_CANCELLED = "already_cancelled"
    UNKNOWN_BOOKING = "unknown_booking"
    UNKNOWN_HOLD = "unknown_hold"
    HOLD_EXPIRED = "hold_expired"
    SEAT_LIMIT = "seat_limit"

    @property
    def accepted(self) -> bool:
        return self in ACCEPTED


ACCEPTED = frozenset(
    {
        Outcome.BOOKED,
        Outcome.CANCELLED,
        Outcome.HELD,
        Outcome.HOLD_CONFIRMED,
        Outcome.HOLD_RELEASED,
        Outcome.BLOCKING_CHANGED,
    }
)


@dataclass(frozen=True, slots=True)
class Book:
    seat_number: int
    user_id: int
    seat_limit: int = 0  # see the module's docstring


@dataclass(frozen=True, slots=True)
class BookSeats:
    """Several seats, all or none."""

    seat_numbers: tuple[int, ...]
    user_id: int
    seat_limit: int = 0


@dataclass(frozen=True, slots=True)
class Cancel:
    booking_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class HoldSeats:
    seat_numbers: tuple[int, ...]
    user_id: int
    hold_id: str
    expires_at: float  # wall-clock seconds since the epoch, so expiry survives a restart
    seat_limit: int = 0


@dataclass(frozen=True, slots=True)
class ConfirmHold:
    hold_id: str
    user_id: int
    now: float


@dataclass(frozen=True, slots=True)
class ReleaseHold:
    hold_id: str
    user_id: int | None  # None: the show's own timer expiring the hold


@dataclass(frozen=True, slots=True)
class SetBlocked:
    seat_numbers: tuple[int, ...]
    blocked: bool
    by_user: int = 0  # the admin, for the journal


Command = Book | BookSeats | Cancel | HoldSeats | ConfirmHold | ReleaseHold | SetBlocked


@dataclass(frozen=True, slots=True)
class Hold:
    user_id: int
    seats: tuple[int, ...]
    expires_at: float


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    first_seat: int
    seats: int


@dataclass(slots=True)
class SeatState:
    """What one show's actor knows. A seat in `holders` may still await its commit (no booking id yet)."""

    total_seats: int
    holders: dict[int, int] = field(default_factory=dict)  # booked seat -> user id
    booked: dict[int, int] = field(default_factory=dict)  # committed booking id -> seat
    cancelled: dict[int, int] = field(default_factory=dict)  # booking id -> owner's user id
    held: dict[int, str] = field(default_factory=dict)  # held seat -> hold id
    holds: dict[str, Hold] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    per_user: dict[int, int] = field(default_factory=dict)  # user id -> seats booked or held by them

    def __post_init__(self) -> None:
        assert self.total_seats >= 1, self.total_seats

    @property
    def available(self) -> int:
        return self.total_seats - len(self.holders) - len(self.held) - len(self.blocked)

    def is_free(self, seat: int) -> bool:
        return seat not in self.holders and seat not in self.held and seat not in self.blocked


def unavailable(state: SeatState, seats: Iterable[int]) -> list[int]:
    """The seats of `seats` that are booked, held or blocked, in order."""
    return [seat for seat in seats if not state.is_free(seat)]


def _in_range(state: SeatState, seats: Iterable[int]) -> bool:
    return all(1 <= seat <= state.total_seats for seat in seats)


def _over_limit(state: SeatState, user_id: int, more: int, limit: int) -> bool:
    return limit > 0 and state.per_user.get(user_id, 0) + more > limit


def _count(state: SeatState, user_id: int, change: int) -> None:
    held = state.per_user.get(user_id, 0) + change
    assert held >= 0, (user_id, held)
    if held:
        state.per_user[user_id] = held
    else:
        state.per_user.pop(user_id, None)


def decide(state: SeatState, command: Command) -> Outcome:
    """The outcome of `command` against `state`; never changes `state`."""
    if isinstance(command, Book):
        seat = command.seat_number
        if not 1 <= seat <= state.total_seats:
            return Outcome.SEAT_OUT_OF_RANGE
        if state.available <= 0:
            return Outcome.SOLD_OUT
        if seat in state.holders:
            return Outcome.SEAT_TAKEN
        if not state.is_free(seat):
            return Outcome.SEATS_UNAVAILABLE
        if command.seat_limit and _over_limit(state, command.user_id, 1, command.seat_limit):
            return Outcome.SEAT_LIMIT
        return Outcome.BOOKED
    if isinstance(command, BookSeats | HoldSeats):
        seats = command.seat_numbers
        assert seats and len(set(seats)) == len(seats), seats
        if not _in_range(state, seats):
            return Outcome.SEAT_OUT_OF_RANGE
        if unavailable(state, seats):
            return Outcome.SEATS_UNAVAILABLE
        if _over_limit(state, command.user_id, len(seats), command.seat_limit):
            return Outcome.SEAT_LIMIT
        return Outcome.BOOKED if isinstance(command, BookSeats) else Outcome.HELD
    if isinstance(command, Cancel):
        return _decide_cancel(state, command)
    if isinstance(command, ConfirmHold | ReleaseHold):
        hold = state.holds.get(command.hold_id)
        if hold is None:
            return Outcome.UNKNOWN_HOLD
        if command.user_id is not None and hold.user_id != command.user_id:
            return Outcome.NOT_OWNER
        if isinstance(command, ReleaseHold):
            return Outcome.HOLD_RELEASED
        if command.now >= hold.expires_at:
            return Outcome.HOLD_EXPIRED
        return Outcome.HOLD_CONFIRMED
    assert isinstance(command, SetBlocked)
    seats = command.seat_numbers
    if not _in_range(state, seats):
        return Outcome.SEAT_OUT_OF_RANGE
    if command.blocked and any(seat in state.holders or seat in state.held for seat in seats):
        return Outcome.SEATS_UNAVAILABLE
    return Outcome.BLOCKING_CHANGED


def _decide_cancel(state: SeatState, command: Cancel) -> Outcome:
    seat = state.booked.get(command.booking_id)
    if seat is not None:
        if state.holders[seat] != command.user_id:
            return Outcome.NOT_OWNER
        return Outcome.CANCELLED
    owner = state.cancelled.get(command.booking_id)
    if owner is None:
        return Outcome.UNKNOWN_BOOKING
    if owner != command.user_id:
        return Outcome.NOT_OWNER
    return Outcome.ALREADY_CANCELLED


def apply(state: SeatState, command: Command) -> tuple[int, ...]:
    """Apply a command `decide` accepted (the caller has just decided it); returns the seats it changed.

    The operations below also assert what acceptance guarantees: a seat freed must be held, a booking cancelled
    must exist, and nothing ever leaves fewer than zero seats free.
    """
    if isinstance(command, Book):
        assert state.is_free(command.seat_number), command
        state.holders[command.seat_number] = command.user_id
        _count(state, command.user_id, 1)
        seats: tuple[int, ...] = (command.seat_number,)
    elif isinstance(command, BookSeats):
        seats = command.seat_numbers
        for seat in seats:
            assert state.is_free(seat), command
            state.holders[seat] = command.user_id
        _count(state, command.user_id, len(seats))
    elif isinstance(command, Cancel):
        seat = state.booked[command.booking_id]
        assert state.holders[seat] == command.user_id, command
        del state.booked[command.booking_id]
        state.cancelled[command.booking_id] = state.holders.pop(seat)
        _count(state, command.user_id, -1)
        seats = (seat,)
    elif isinstance(command, HoldSeats):
        seats = command.seat_numbers
        state.holds[command.hold_id] = Hold(command.user_id, seats, command.expires_at)
        for seat in seats:
            assert state.is_free(seat), command
            state.held[seat] = command.hold_id
        _count(state, command.user_id, len(seats))
    elif isinstance(command, ConfirmHold | ReleaseHold):
        hold = state.holds[command.hold_id]
        assert command.user_id in (None, hold.user_id), command
        assert not isinstance(command, ConfirmHold) or command.now < hold.expires_at, command
        del state.holds[command.hold_id]
        seats = hold.seats
        for seat in seats:
            del state.held[seat]
            if isinstance(command, ConfirmHold):
                state.holders[seat] = hold.user_id
        if isinstance(command, ReleaseHold):  # a confirmed hold's seats stay counted, as bookings
            _count(state, hold.user_id, -len(seats))
    else:
        assert isinstance(command, SetBlocked)
        seats = command.seat_numbers
        if command.blocked:
            assert not any(seat in state.holders or seat in state.held for seat in seats), command
            state.blocked.update(seats)
        else:
            state.blocked.difference_update(seats)
    assert state.available >= 0
    return seats


def record_booking_id(state: SeatState, seat_number: int, booking_id: int) -> None:
    """Attach the id storage gave a committed booking, so that it can be cancelled."""
    assert seat_number in state.holders, seat_number
    assert booking_id not in state.booked and booking_id not in state.cancelled, booking_id
    state.booked[booking_id] = seat_number


def restore(
    total_seats: int,
    rows: list[tuple[int, int, int, bool]],
    holds: Iterable[tuple[str, Hold]] = (),
    blocked: Iterable[int] = (),
) -> SeatState:
    """Rebuild a show's state from stored (booking id, seat, user id, is_booked) rows, live holds and blocks."""
    state = SeatState(total_seats)
    for booking_id, seat, user_id, is_booked in rows:
        if is_booked:
            assert seat not in state.holders, f"seat {seat} booked twice on disk"
            state.holders[seat] = user_id
            state.booked[booking_id] = seat
            _count(state, user_id, 1)
        else:
            state.cancelled[booking_id] = user_id
    state.blocked.update(blocked)
    for hold_id, hold in holds:
        state.holds[hold_id] = hold
        for seat in hold.seats:
            state.held[seat] = hold_id
        _count(state, hold.user_id, len(hold.seats))
    return state


def best_available(state: SeatState, rows: tuple[Row, ...], count: int) -> tuple[int, ...] | None:
    """`count` adjacent free seats in one row, nearest the middle of the hall; None when no row has them."""
    assert count >= 1
    middle_row = (len(rows) - 1) / 2
    best: tuple[float, tuple[int, ...]] | None = None
    for index, row in enumerate(rows):
        centre = row.first_seat + (row.seats - 1) / 2
        for start in range(row.first_seat, row.first_seat + row.seats - count + 1):
            seats = tuple(range(start, start + count))
            if all(state.is_free(seat) for seat in seats):
                distance = abs(index - middle_row) + abs(start + (count - 1) / 2 - centre) / max(1, row.seats)
                if best is None or distance < best[0]:
                    best = (distance, seats)
    return None if best is None else best[1]
