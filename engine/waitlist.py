"""The waiting list of a sold-out show: who waits, in which order, and which returning seats go to whom.

Plain data and functions, no I/O and no asyncio: the show's actor calls `offer_seats` in the same serial decision
that gave seats back (a cancel, a released or expired hold, an unblock), applies nothing itself, and journals the
holds this returns.

The fitting rules, so that a family of four is never offered four scattered seats:

* A `together` party of N is offered only N adjacent seats in one row, chosen exactly as a `count` booking chooses
  them (engine/layout.py, FreeIndex.best: standard seats nearest the middle of the hall, and never a block that
  strands a single free seat when another block avoids that). A show without a row layout has no adjacency, so a
  together party of more than one cannot join its list (`no_adjacent_seats`).
* A party that is not together gets such a block when there is one, else any N free standard seats.
* Entries are served in the order they joined. The first entry the seats fit gets them; an entry they do not fit
  keeps its place, and a smaller party behind it may be offered a block it cannot use (bounded skip-ahead: at most
  LOOKAHEAD waiting entries, counted from the front, are looked at per decision, so one decision stays cheap
  however long the list is).
* An offer is a hold owned by the entry's user. Confirmed, the entry is done (`booked`); declined or expired, the
  entry is done too and its seats go, in that same decision, to the next entry they fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from engine.seats import HoldSeats, Outcome, SeatState, apply, best_available, decide

LOOKAHEAD = 50  # waiting entries looked at per decision, from the front of the list


class WaitlistOutcome(StrEnum):
    JOINED = "joined"
    LEFT = "left"
    SEATS_AVAILABLE = "seats_available"
    ALREADY_WAITING = "already_waiting"
    WAITLIST_FULL = "waitlist_full"
    SEAT_LIMIT = "seat_limit"
    SHOW_STARTED = "show_started"
    NO_ADJACENT_SEATS = "no_adjacent_seats"
    UNKNOWN_ENTRY = "unknown_waitlist_entry"


@dataclass(frozen=True, slots=True)
class JoinWaitlist:
    entry_id: str
    user_id: int
    party_size: int
    together: bool = True


@dataclass(frozen=True, slots=True)
class LeaveWaitlist:
    entry_id: str
    user_id: int


@dataclass(frozen=True, slots=True)
class OfferFreeSeats:
    """Offer whatever is free to the list now (sent by the actor to itself after a failed offer, so that it
    reloads from disk and tries again)."""


@dataclass(frozen=True, slots=True)
class WaitlistReply:
    outcome: WaitlistOutcome
    entry_id: str | None = None
    position: int = 0  # for a join: the entry's place, 1 for the front


WaitlistCommand = JoinWaitlist | LeaveWaitlist | OfferFreeSeats


@dataclass(frozen=True, slots=True)
class WaitlistRules:
    """The engine's configuration of every show's list."""

    offer_seconds: float = 600.0  # how long an offered hold waits for its confirmation
    seat_limit: int = 0  # held + booked seats of one user in one show (engine/seats.py); 0: none
    max_entries: int = 10_000  # live entries per show
    lookahead: int = LOOKAHEAD


DEFAULT_RULES = WaitlistRules()


@dataclass(slots=True)
class Entry:
    id: str
    user_id: int
    party_size: int
    together: bool
    number: int  # the order of joining within the show, from 1
    hold_id: str | None = None  # the live offer, if any


@dataclass(frozen=True, slots=True)
class Offer:
    entry: Entry
    hold: HoldSeats


@dataclass(slots=True)
class Waitlist:
    """A show's live entries (waiting, or holding an offer) in the order they joined."""

    entries: dict[str, Entry] = field(default_factory=dict)  # insertion order is joining order
    by_user: dict[int, str] = field(default_factory=dict)  # one live entry per user per show
    by_hold: dict[str, str] = field(default_factory=dict)  # offer hold id -> entry id
    next_number: int = 1

    @property
    def waiting(self) -> int:
        return len(self.entries) - len(self.by_hold)

    def position(self, entry_id: str) -> int:
        """1 for the front of the list."""
        for place, known in enumerate(self.entries, 1):
            if known == entry_id:
                return place
        raise KeyError(entry_id)

    def add(self, entry: Entry) -> None:
        assert entry.id not in self.entries and entry.user_id not in self.by_user, entry
        self.entries[entry.id] = entry
        self.by_user[entry.user_id] = entry.id
        if entry.hold_id is not None:
            self.by_hold[entry.hold_id] = entry.id
        self.next_number = max(self.next_number, entry.number + 1)

    def remove(self, entry_id: str) -> Entry:
        entry = self.entries.pop(entry_id)
        del self.by_user[entry.user_id]
        if entry.hold_id is not None:
            del self.by_hold[entry.hold_id]
        return entry

    def offer_ended(self, hold_id: str) -> Entry | None:
        """The entry whose offer this hold was, now done (confirmed, declined or expired); None for other holds."""
        entry_id = self.by_hold.get(hold_id)
        return None if entry_id is None else self.remove(entry_id)


def restore(entries: Iterable[Entry], live_holds: Iterable[str], next_number: int = 1) -> Waitlist:
    """The list rebuilt from stored entries; an entry whose offer hold is no longer live is done."""
    live = set(live_holds)
    waitlist = Waitlist(next_number=next_number)
    for entry in sorted(entries, key=lambda e: e.number):
        if entry.hold_id is None or entry.hold_id in live:
            waitlist.add(entry)
    return waitlist


def decide_join(
    waitlist: Waitlist, state: SeatState, command: JoinWaitlist, rules: WaitlistRules, now: float
) -> WaitlistOutcome:
    """Whether the show takes this entry; never changes anything."""
    if now >= state.starts_at:
        return WaitlistOutcome.SHOW_STARTED
    if state.available > 0:
        return WaitlistOutcome.SEATS_AVAILABLE
    if command.user_id in waitlist.by_user:
        return WaitlistOutcome.ALREADY_WAITING
    if len(waitlist.entries) >= rules.max_entries:
        return WaitlistOutcome.WAITLIST_FULL
    if rules.seat_limit and state.per_user.get(command.user_id, 0) + command.party_size > rules.seat_limit:
        return WaitlistOutcome.SEAT_LIMIT
    if command.together and command.party_size > 1 and state.index is None:
        return WaitlistOutcome.NO_ADJACENT_SEATS
    return WaitlistOutcome.JOINED


def join(waitlist: Waitlist, command: JoinWaitlist) -> Entry:
    """Add an accepted entry at the back; returns it."""
    entry = Entry(command.entry_id, command.user_id, command.party_size, command.together, waitlist.next_number)
    waitlist.add(entry)
    return entry


def decide_leave(waitlist: Waitlist, command: LeaveWaitlist) -> WaitlistOutcome:
    entry = waitlist.entries.get(command.entry_id)
    if entry is None or entry.user_id != command.user_id:  # someone else's entry is as good as none
        return WaitlistOutcome.UNKNOWN_ENTRY
    return WaitlistOutcome.LEFT


class _FreeSeats:
    """Free standard seats in seat order, listed once per decision and only when a scattered party needs them."""

    def __init__(self, state: SeatState) -> None:
        self._state = state
        self._seats: list[int] | None = None

    def take(self, count: int) -> tuple[int, ...] | None:
        state = self._state
        if self._seats is None:
            if state.index is not None:
                self._seats = state.index.free_standard()
            else:
                self._seats = [s for s in range(1, state.total_seats + 1) if state.is_free(s)]
        chosen = []
        for seat in self._seats:
            if state.is_free(seat):  # offers made earlier in this decision took some
                chosen.append(seat)
                if len(chosen) == count:
                    return tuple(chosen)
        return None


def fit(state: SeatState, entry: Entry, free: _FreeSeats | None = None) -> tuple[int, ...] | None:
    """The seats this entry would be offered now, or None when what is free does not suit it."""
    count = entry.party_size
    if state.available < count:
        return None
    if state.index is None and count == 1:
        return (free or _FreeSeats(state)).take(1)
    block = best_available(state, count)
    if block is not None or entry.together:
        return block
    return (free or _FreeSeats(state)).take(count)


def offer_seats(
    waitlist: Waitlist,
    state: SeatState,
    rules: WaitlistRules,
    now: float,
    new_hold_id: Callable[[], str],
) -> list[Offer]:
    """Offer what is free to the entries it fits, front first (see the module's docstring).

    Each offer's hold is applied to `state` (so the next entry sees what is left) and recorded on its entry; the
    caller journals them. An entry whose user could not hold the seats now (over the seat limit) keeps its place.
    """
    offers: list[Offer] = []
    if not waitlist.waiting or state.available == 0 or now >= state.starts_at:
        return offers
    free = _FreeSeats(state)
    looked = 0
    for entry in list(waitlist.entries.values()):
        if looked >= rules.lookahead or state.available == 0:
            break
        if entry.hold_id is not None:
            continue
        looked += 1
        seats = fit(state, entry, free)
        if seats is None:
            continue
        hold = HoldSeats(seats, entry.user_id, new_hold_id(), now + rules.offer_seconds, rules.seat_limit)
        if decide(state, hold, now) is not Outcome.HELD:
            continue
        apply(state, hold)
        entry.hold_id = hold.hold_id
        waitlist.by_hold[hold.hold_id] = entry.id
        offers.append(Offer(entry, hold))
    return offers
