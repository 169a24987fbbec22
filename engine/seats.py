"""The seat rules of one show: plain data and functions, no I/O, no asyncio.

The actor calls `decide` and, only when the outcome is accepted, `apply`. Keeping the two apart lets the
rules be tested exhaustively without a database and lets the actor refuse work before touching state.

A seat is in at most one of: booked (`holders`), held (`held`), blocked (`blocked`); otherwise it is free.

Time rules (a show that has started cannot be booked, held or changed; cancelling closes at a cutoff before
the start; door check-in has its own window) compare the `now` the actor passes with instants kept in the
state, so they cost one float comparison and no query.

Hoarding: a command may carry `seat_limit`, the most seats one user may hold and book together in this show
(the engine's configuration sets it; 0 means none). `per_user` counts them, so the check costs a dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from engine.layout import FreeIndex, Layout, Work


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
    CHECKED_IN = "checked_in"
    SHOW_STARTED = "show_started"
    CANCEL_CLOSED = "cancel_closed"
    COMPANION_NEEDS_WHEELCHAIR = "companion_needs_wheelchair"
    UNKNOWN_ORDER = "unknown_order"
    UNKNOWN_TICKET_TYPE = "unknown_ticket_type"  # refused by the actor's price check, not by these rules
    TICKET_TYPES_MISMATCH = "ticket_types_mismatch"
    TICKET_USED = "ticket_used"
    ALREADY_CHECKED_IN = "already_checked_in"
    TICKET_CANCELLED = "ticket_cancelled"
    UNKNOWN_TICKET = "unknown_ticket"
    CHECK_IN_CLOSED = "check_in_closed"

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
        Outcome.CHECKED_IN,
    }
)


@dataclass(frozen=True, slots=True)
class Book:
    seat_number: int
    user_id: int
    seat_limit: int = 0  # see the module's docstring
    ticket_type: str = "adult"  # priced by the actor (engine/layout.py); no seat rule reads it


@dataclass(frozen=True, slots=True)
class BookSeats:
    """Several seats, all or none."""

    seat_numbers: tuple[int, ...]
    user_id: int
    seat_limit: int = 0
    ticket_types: tuple[str, ...] = ()  # one per seat; () means all adult


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
    ticket_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfirmHold:
    hold_id: str
    user_id: int
    now: float
    ticket_types: tuple[str, ...] = ()  # () keeps the hold's own


@dataclass(frozen=True, slots=True)
class ReleaseHold:
    hold_id: str
    user_id: int | None  # None: the show's own timer expiring the hold


@dataclass(frozen=True, slots=True)
class SetBlocked:
    seat_numbers: tuple[int, ...]
    blocked: bool
    by_user: int = 0  # the admin, for the journal


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Every live seat of an order, all or none."""

    order_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class RefundOrder:
    """Staff cancelling every live seat of anyone's order at the counter, all or none (no cancel cutoff: until the
    show starts). `method` is how the money goes back; it is recorded, not decided on."""

    order_id: int
    by_user: int
    method: str = "cash"


@dataclass(frozen=True, slots=True)
class CheckIn:
    """A ticket scanned at the door by staff member `by_user`."""

    booking_id: int
    by_user: int
    now: float


Command = (
    Book | BookSeats | Cancel | HoldSeats | ConfirmHold | ReleaseHold | SetBlocked | CancelOrder | CheckIn | RefundOrder
)
INFINITY = float("inf")


@dataclass(frozen=True, slots=True)
class Hold:
    user_id: int
    seats: tuple[int, ...]
    expires_at: float
    ticket_types: tuple[str, ...] = ()  # one per seat, () for all adult


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
    # Orders of several seats: booking id -> order id (a booking not listed is its own order), and back.
    order_of: dict[int, int] = field(default_factory=dict)
    orders: dict[int, tuple[int, ...]] = field(default_factory=dict)
    checked_in: dict[int, float] = field(default_factory=dict)  # booking id -> when first scanned
    companions: dict[int, tuple[int, ...]] = field(default_factory=dict)  # companion seat -> wheelchair beside
    index: FreeIndex | None = None  # the free-seat index, for shows with a layout
    starts_at: float = INFINITY  # wall-clock seconds: from then on nothing can be booked, held or blocked
    cancel_until: float = INFINITY
    check_in_from: float = -INFINITY
    check_in_until: float = INFINITY

    def __post_init__(self) -> None:
        assert self.total_seats >= 1, self.total_seats
        assert self.index is None or not self.holders, "attach the index before seats change"

    def use_layout(self, layout: Layout) -> None:
        """Attach the layout's rules (companion seats) and index; call on a state with no seats taken yet."""
        assert layout.total_seats == self.total_seats, (layout.total_seats, self.total_seats)
        assert not self.holders and not self.held and not self.blocked
        self.companions = layout.companions()
        self.index = FreeIndex(layout)

    def order(self, booking_id: int) -> int:
        return self.order_of.get(booking_id, booking_id)

    def bookings_of_order(self, order_id: int) -> tuple[int, ...]:
        return self.orders.get(order_id, (order_id,))

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


def decide(state: SeatState, command: Command, now: float = -INFINITY) -> Outcome:
    """The outcome of `command` against `state` at wall-clock `now`; never changes `state`."""
    if isinstance(command, Book):
        seat = command.seat_number
        if not 1 <= seat <= state.total_seats:
            return Outcome.SEAT_OUT_OF_RANGE
        if now >= state.starts_at:
            return Outcome.SHOW_STARTED
        if state.available <= 0:
            return Outcome.SOLD_OUT
        if seat in state.holders:
            return Outcome.SEAT_TAKEN
        if not state.is_free(seat):
            return Outcome.SEATS_UNAVAILABLE
        if seat in state.companions:
            return Outcome.COMPANION_NEEDS_WHEELCHAIR
        if command.seat_limit and _over_limit(state, command.user_id, 1, command.seat_limit):
            return Outcome.SEAT_LIMIT
        return Outcome.BOOKED
    if isinstance(command, BookSeats | HoldSeats):
        seats = command.seat_numbers
        assert seats and len(set(seats)) == len(seats), seats
        if not _in_range(state, seats):
            return Outcome.SEAT_OUT_OF_RANGE
        if now >= state.starts_at:
            return Outcome.SHOW_STARTED
        if unavailable(state, seats):
            return Outcome.SEATS_UNAVAILABLE
        if state.companions and not _companions_accompanied(state, seats):
            return Outcome.COMPANION_NEEDS_WHEELCHAIR
        if _over_limit(state, command.user_id, len(seats), command.seat_limit):
            return Outcome.SEAT_LIMIT
        return Outcome.BOOKED if isinstance(command, BookSeats) else Outcome.HELD
    if isinstance(command, Cancel):
        return _decide_cancel(state, command, now)
    if isinstance(command, CancelOrder):
        return _decide_cancel_order(state, command, now)
    if isinstance(command, RefundOrder):
        return _decide_refund(state, command, now)
    if isinstance(command, CheckIn):
        return _decide_check_in(state, command)
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
        if command.now >= state.starts_at:
            return Outcome.SHOW_STARTED
        return Outcome.HOLD_CONFIRMED
    assert isinstance(command, SetBlocked)
    seats = command.seat_numbers
    if not _in_range(state, seats):
        return Outcome.SEAT_OUT_OF_RANGE
    if now >= state.starts_at:
        return Outcome.SHOW_STARTED
    if command.blocked and any(seat in state.holders or seat in state.held for seat in seats):
        return Outcome.SEATS_UNAVAILABLE
    return Outcome.BLOCKING_CHANGED


def _companions_accompanied(state: SeatState, seats: tuple[int, ...]) -> bool:
    """A companion seat goes only with a wheelchair space beside it, in the same booking or hold."""
    wanted = set(seats)
    for seat in seats:
        beside = state.companions.get(seat)
        if beside is not None and wanted.isdisjoint(beside):
            return False
    return True


def _decide_cancel(state: SeatState, command: Cancel, now: float) -> Outcome:
    seat = state.booked.get(command.booking_id)
    if seat is not None:
        if state.holders[seat] != command.user_id:
            return Outcome.NOT_OWNER
        if command.booking_id in state.checked_in:
            return Outcome.TICKET_USED
        if now >= state.cancel_until:
            return Outcome.CANCEL_CLOSED
        return Outcome.CANCELLED
    owner = state.cancelled.get(command.booking_id)
    if owner is None:
        return Outcome.UNKNOWN_BOOKING
    if owner != command.user_id:
        return Outcome.NOT_OWNER
    return Outcome.ALREADY_CANCELLED


def _decide_cancel_order(state: SeatState, command: CancelOrder, now: float) -> Outcome:
    order_id = command.order_id
    if state.order(order_id) != order_id:  # a later seat of someone's order is not an order itself
        return Outcome.UNKNOWN_ORDER
    live = [b for b in state.bookings_of_order(order_id) if b in state.booked]
    owners = {state.holders[state.booked[b]] for b in live}
    owners |= {state.cancelled[b] for b in state.bookings_of_order(order_id) if b in state.cancelled}
    if not owners:
        return Outcome.UNKNOWN_ORDER
    if owners != {command.user_id}:
        return Outcome.NOT_OWNER
    if not live:
        return Outcome.ALREADY_CANCELLED
    if any(b in state.checked_in for b in live):
        return Outcome.TICKET_USED
    if now >= state.cancel_until:
        return Outcome.CANCEL_CLOSED
    return Outcome.CANCELLED


def _decide_refund(state: SeatState, command: RefundOrder, now: float) -> Outcome:
    order_id = command.order_id
    if state.order(order_id) != order_id:
        return Outcome.UNKNOWN_ORDER
    members = state.bookings_of_order(order_id)
    live = [b for b in members if b in state.booked]
    if not live:
        return Outcome.ALREADY_CANCELLED if any(b in state.cancelled for b in members) else Outcome.UNKNOWN_ORDER
    if any(b in state.checked_in for b in live):
        return Outcome.TICKET_USED
    if now >= state.starts_at:
        return Outcome.SHOW_STARTED
    return Outcome.CANCELLED


def _decide_check_in(state: SeatState, command: CheckIn) -> Outcome:
    booking_id = command.booking_id
    if booking_id in state.booked:
        if booking_id in state.checked_in:
            return Outcome.ALREADY_CHECKED_IN
        if not state.check_in_from <= command.now < state.check_in_until:
            return Outcome.CHECK_IN_CLOSED
        return Outcome.CHECKED_IN
    if booking_id in state.cancelled:
        return Outcome.TICKET_CANCELLED
    return Outcome.UNKNOWN_TICKET


def live_bookings_of_order(state: SeatState, order_id: int) -> list[int]:
    return [b for b in state.bookings_of_order(order_id) if b in state.booked]


def apply(state: SeatState, command: Command) -> tuple[int, ...]:
    """Apply a command `decide` accepted (the caller has just decided it); returns the seats it changed.

    The operations below also assert what acceptance guarantees: a seat freed must be held, a booking cancelled
    must exist, and nothing ever leaves fewer than zero seats free.
    """
    index = state.index
    if isinstance(command, Book):
        assert state.is_free(command.seat_number), command
        state.holders[command.seat_number] = command.user_id
        _count(state, command.user_id, 1)
        seats: tuple[int, ...] = (command.seat_number,)
        if index is not None:
            index.take(command.seat_number)
    elif isinstance(command, BookSeats):
        seats = command.seat_numbers
        for seat in seats:
            assert state.is_free(seat), command
            state.holders[seat] = command.user_id
            if index is not None:
                index.take(seat)
        _count(state, command.user_id, len(seats))
    elif isinstance(command, Cancel | CancelOrder | RefundOrder):
        bookings = (
            (command.booking_id,) if isinstance(command, Cancel) else live_bookings_of_order(state, command.order_id)
        )
        seats = ()
        for booking_id in bookings:
            seat = state.booked.pop(booking_id)
            holder = state.holders[seat]
            assert isinstance(command, RefundOrder) or holder == command.user_id, command
            assert booking_id not in state.checked_in, command
            state.cancelled[booking_id] = state.holders.pop(seat)
            _count(state, holder, -1)
            seats += (seat,)
            if index is not None:
                index.free(seat)
    elif isinstance(command, CheckIn):
        assert command.booking_id in state.booked and command.booking_id not in state.checked_in, command
        state.checked_in[command.booking_id] = command.now
        seats = (state.booked[command.booking_id],)
    elif isinstance(command, HoldSeats):
        seats = command.seat_numbers
        state.holds[command.hold_id] = Hold(command.user_id, seats, command.expires_at, command.ticket_types)
        for seat in seats:
            assert state.is_free(seat), command
            state.held[seat] = command.hold_id
            if index is not None:
                index.take(seat)
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
            elif index is not None:
                index.free(seat)
        if isinstance(command, ReleaseHold):  # a confirmed hold's seats stay counted, as bookings
            _count(state, hold.user_id, -len(seats))
    else:
        assert isinstance(command, SetBlocked)
        seats = command.seat_numbers
        if command.blocked:
            assert not any(seat in state.holders or seat in state.held for seat in seats), command
            for seat in seats:
                if index is not None and seat not in state.blocked:
                    index.take(seat)
            state.blocked.update(seats)
        else:
            for seat in seats:
                if index is not None and seat in state.blocked:
                    index.free(seat)
            state.blocked.difference_update(seats)
    assert state.available >= 0
    return seats


def record_booking_id(state: SeatState, seat_number: int, booking_id: int) -> None:
    """Attach the id storage gave a committed booking, so that it can be cancelled."""
    assert seat_number in state.holders, seat_number
    assert booking_id not in state.booked and booking_id not in state.cancelled, booking_id
    state.booked[booking_id] = seat_number


def record_order(state: SeatState, booking_ids: tuple[int, ...]) -> int:
    """Bookings committed as one unit are one order, named by its first booking id; returns that id."""
    order_id = booking_ids[0]
    if len(booking_ids) > 1:
        state.orders[order_id] = booking_ids
        for booking_id in booking_ids[1:]:
            state.order_of[booking_id] = order_id
    return order_id


def restore(
    total_seats: int,
    rows: list[tuple[int, int, int, bool]],
    holds: Iterable[tuple[str, Hold]] = (),
    blocked: Iterable[int] = (),
    *,
    layout: Layout | None = None,
    orders: Iterable[tuple[int, int]] = (),
    checked_in: Iterable[tuple[int, float]] = (),
) -> SeatState:
    """Rebuild a show's state from stored (booking id, seat, user id, is_booked) rows, live holds and blocks,
    (booking id, order id) pairs and (booking id, when) check-ins."""
    state = SeatState(total_seats)
    if layout is not None:
        state.use_layout(layout)
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
    if state.index is not None:
        for seat in (*state.holders, *state.held, *state.blocked):
            state.index.take(seat)
    grouped: dict[int, list[int]] = {}
    for booking_id, order_id in orders:
        grouped.setdefault(order_id, []).append(booking_id)
    for order_id, members in grouped.items():
        record_order(state, (order_id, *sorted(set(members) - {order_id})))
    state.checked_in.update(checked_in)
    return state


def best_available(
    state: SeatState, count: int, wheelchair: int = 0, work: Work | None = None
) -> tuple[int, ...] | None:
    """`count` adjacent free seats in one row, nearest the middle, leaving no single orphan seat where another
    choice avoids it (see FreeIndex.best); None when no row has them or the show has no layout."""
    assert count >= 1
    return None if state.index is None else state.index.best(count, wheelchair, work)


def best_group(state: SeatState, count: int) -> tuple[int, ...] | None:
    """`count` seats for a group (a school class at the counter): one block in one row when a row has it, else
    the fewest, largest blocks of adjacent seats, each the best available (nearest the middle) at its size.
    None when the show has no layout or too few free standard seats.

    A block size that finds no row is never tried again (a smaller block cannot make a larger one fit), so the
    search costs at most (widest row + blocks) index searches. The index is left as it was."""
    assert count >= 1
    index = state.index
    if index is None or count > state.available:
        return None
    chosen: list[int] = []
    size = count
    try:
        while len(chosen) < count:
            size = min(size, count - len(chosen))
            block = index.best(size)
            while block is None and size > 1:
                size -= 1
                block = index.best(size)
            if block is None:
                return None
            for seat in block:
                index.take(seat)
            chosen.extend(block)
        return tuple(chosen)
    finally:
        for seat in chosen:
            index.free(seat)
