"""The seat rules of one show: plain data and functions, no I/O, no asyncio.

The actor calls `decide` and, only when the outcome is accepted, `apply`. Keeping the two apart lets the
rules be tested exhaustively without a database and lets the actor refuse work before touching state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    SEAT_TAKEN = "seat_taken"
    SEAT_OUT_OF_RANGE = "seat_out_of_range"
    SOLD_OUT = "sold_out"
    NOT_OWNER = "not_owner"
    ALREADY_CANCELLED = "already_cancelled"
    UNKNOWN_BOOKING = "unknown_booking"

    @property
    def accepted(self) -> bool:
        return self in (Outcome.BOOKED, Outcome.CANCELLED)


@dataclass(frozen=True, slots=True)
class Book:
    seat_number: int
    user_id: int


@dataclass(frozen=True, slots=True)
class Cancel:
    booking_id: int
    user_id: int


Command = Book | Cancel


@dataclass(slots=True)
class SeatState:
    """What one show's actor knows. A seat in `holders` may still await its commit (no booking id yet)."""

    total_seats: int
    holders: dict[int, int] = field(default_factory=dict)  # seat -> user id
    booked: dict[int, int] = field(default_factory=dict)  # committed booking id -> seat
    cancelled: dict[int, int] = field(default_factory=dict)  # booking id -> owner's user id

    def __post_init__(self) -> None:
        assert self.total_seats >= 1, self.total_seats

    @property
    def available(self) -> int:
        return self.total_seats - len(self.holders)


def decide(state: SeatState, command: Command) -> Outcome:
    """The outcome of `command` against `state`; never changes `state`."""
    if isinstance(command, Book):
        seat = command.seat_number
        if not 1 <= seat <= state.total_seats:
            return Outcome.SEAT_OUT_OF_RANGE
        if len(state.holders) >= state.total_seats:
            return Outcome.SOLD_OUT
        if seat in state.holders:
            return Outcome.SEAT_TAKEN
        return Outcome.BOOKED
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


def apply(state: SeatState, command: Command) -> int:
    """Apply an accepted command; returns the seat it took or freed."""
    assert decide(state, command).accepted, (command, decide(state, command))
    if isinstance(command, Book):
        state.holders[command.seat_number] = command.user_id
        seat = command.seat_number
    else:
        seat = state.booked.pop(command.booking_id)
        state.cancelled[command.booking_id] = state.holders.pop(seat)
    assert len(state.holders) <= state.total_seats
    return seat


def record_booking_id(state: SeatState, seat_number: int, booking_id: int) -> None:
    """Attach the id storage gave a committed booking, so that it can be cancelled."""
    assert seat_number in state.holders, seat_number
    assert booking_id not in state.booked and booking_id not in state.cancelled, booking_id
    state.booked[booking_id] = seat_number


def restore(total_seats: int, rows: list[tuple[int, int, int, bool]]) -> SeatState:
    """Rebuild a show's state from stored (booking id, seat, user id, is_booked) rows."""
    state = SeatState(total_seats)
    for booking_id, seat, user_id, is_booked in rows:
        if is_booked:
            assert seat not in state.holders, f"seat {seat} booked twice on disk"
            state.holders[seat] = user_id
            state.booked[booking_id] = seat
        else:
            state.cancelled[booking_id] = user_id
    return state
