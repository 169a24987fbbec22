"""The pure seat rules, without I/O: every outcome, and random command sequences against the invariants."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.seats import Book, Cancel, Outcome, SeatState, apply, decide, record_booking_id, restore


def booked(state: SeatState, seat: int, user: int, booking_id: int) -> None:
    assert decide(state, Book(seat, user)) is Outcome.BOOKED
    apply(state, Book(seat, user))
    record_booking_id(state, seat, booking_id)


def test_book_free_seat() -> None:
    state = SeatState(3)
    assert decide(state, Book(2, 7)) is Outcome.BOOKED
    assert apply(state, Book(2, 7)) == (2,)
    assert state.holders == {2: 7}
    assert state.available == 2


def test_decide_does_not_change_state() -> None:
    state = SeatState(3)
    decide(state, Book(1, 1))
    assert state.holders == {}


@pytest.mark.parametrize("seat", [0, -1, 4, 10**12])
def test_seat_out_of_range(seat: int) -> None:
    assert decide(SeatState(3), Book(seat, 1)) is Outcome.SEAT_OUT_OF_RANGE


def test_seat_taken_even_before_commit() -> None:
    state = SeatState(3)
    apply(state, Book(1, 1))  # no booking id yet: the commit is in flight
    assert decide(state, Book(1, 2)) is Outcome.SEAT_TAKEN
    assert decide(state, Book(1, 1)) is Outcome.SEAT_TAKEN


def test_sold_out() -> None:
    state = SeatState(2)
    booked(state, 1, 1, 10)
    booked(state, 2, 2, 11)
    assert decide(state, Book(1, 3)) is Outcome.SOLD_OUT
    assert decide(state, Book(3, 3)) is Outcome.SEAT_OUT_OF_RANGE


def test_cancel_frees_the_seat_at_once() -> None:
    state = SeatState(1)
    booked(state, 1, 5, 10)
    assert decide(state, Cancel(10, 5)) is Outcome.CANCELLED
    assert apply(state, Cancel(10, 5)) == (1,)
    assert state.holders == {} and state.booked == {} and state.cancelled == {10: 5}
    assert decide(state, Book(1, 6)) is Outcome.BOOKED


def test_only_the_owner_may_cancel() -> None:
    state = SeatState(2)
    booked(state, 1, 5, 10)
    assert decide(state, Cancel(10, 6)) is Outcome.NOT_OWNER


def test_already_cancelled_and_unknown() -> None:
    state = SeatState(2)
    booked(state, 1, 5, 10)
    apply(state, Cancel(10, 5))
    assert decide(state, Cancel(10, 5)) is Outcome.ALREADY_CANCELLED
    assert decide(state, Cancel(10, 6)) is Outcome.NOT_OWNER
    assert decide(state, Cancel(99, 5)) is Outcome.UNKNOWN_BOOKING


def test_refused_commands_cannot_be_applied() -> None:
    state = SeatState(1)
    booked(state, 1, 5, 10)
    with pytest.raises(AssertionError):
        apply(state, Book(1, 6))
    with pytest.raises(AssertionError):
        apply(state, Cancel(10, 6))


def test_restore_from_rows() -> None:
    state = restore(5, [(1, 3, 7, True), (2, 4, 8, False), (3, 4, 9, True)])
    assert state.holders == {3: 7, 4: 9}
    assert state.booked == {1: 3, 3: 4}
    assert state.cancelled == {2: 8}
    with pytest.raises(AssertionError):
        restore(5, [(1, 3, 7, True), (2, 3, 8, True)])


commands = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(-1, 12), st.integers(1, 4)),
        st.tuples(st.just("cancel"), st.integers(0, 40), st.integers(1, 4)),
        st.tuples(st.just("commit"), st.just(0), st.just(0)),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(total=st.integers(1, 10), script=commands)
def test_random_sequences_keep_the_invariants(total: int, script: list[tuple[str, int, int]]) -> None:
    """Model check against a naive reference: never a seat twice, never over capacity, cancel frees."""
    state = SeatState(total)
    pending: list[int] = []  # seats booked in memory, waiting for their commit (id)
    next_id = 1
    owners: dict[int, tuple[int, int]] = {}  # booking id -> (seat, user), as the reference sees it
    live: set[int] = set()
    for op, value, user in script:
        if op == "commit":
            for seat in pending:
                record_booking_id(state, seat, next_id)
                owners[next_id] = (seat, user_of(state, seat))
                live.add(next_id)
                next_id += 1
            pending.clear()
        elif op == "book":
            outcome = decide(state, Book(value, user))
            taken = {owners[b][0] for b in live} | set(pending)
            if not 1 <= value <= total:
                assert outcome is Outcome.SEAT_OUT_OF_RANGE
            elif len(taken) >= total:
                assert outcome is Outcome.SOLD_OUT
            elif value in taken:
                assert outcome is Outcome.SEAT_TAKEN
            else:
                assert outcome is Outcome.BOOKED
                apply(state, Book(value, user))
                pending.append(value)
        else:
            outcome = decide(state, Cancel(value, user))
            if value in live:
                if owners[value][1] == user:
                    assert outcome is Outcome.CANCELLED
                    (seat,) = apply(state, Cancel(value, user))
                    assert seat == owners[value][0] and seat not in state.holders  # freed at once
                    live.discard(value)
                else:
                    assert outcome is Outcome.NOT_OWNER
            elif value in owners:
                assert outcome in (Outcome.ALREADY_CANCELLED, Outcome.NOT_OWNER)
            else:
                assert outcome is Outcome.UNKNOWN_BOOKING
        seats = [owners[b][0] for b in live] + pending
        assert len(seats) == len(set(seats)), "a seat is held twice"
        assert len(seats) <= total
        assert set(seats) == set(state.holders)


def user_of(state: SeatState, seat: int) -> int:
    return state.holders[seat]


# --- holds, blocks, several seats, best available ----------------------------------------------------------
from engine.layout import plain_layout  # noqa: E402
from engine.seats import (  # noqa: E402
    BookSeats,
    ConfirmHold,
    HoldSeats,
    ReleaseHold,
    SetBlocked,
    best_available,
    unavailable,
)


def test_several_seats_all_or_none() -> None:
    state = SeatState(5)
    apply(state, Book(2, 1))
    assert decide(state, BookSeats((1, 2, 3), 9)) is Outcome.SEATS_UNAVAILABLE
    assert unavailable(state, (1, 2, 3)) == [2]
    assert decide(state, BookSeats((1, 6), 9)) is Outcome.SEAT_OUT_OF_RANGE
    assert apply(state, BookSeats((1, 3), 9)) == (1, 3)
    assert state.holders == {2: 1, 1: 9, 3: 9}


def test_hold_lifecycle() -> None:
    state = SeatState(5)
    apply(state, HoldSeats((1, 2), 7, "h1", expires_at=100.0))
    assert state.available == 3
    assert decide(state, Book(1, 8)) is Outcome.SEATS_UNAVAILABLE
    assert decide(state, HoldSeats((2, 3), 8, "h2", 100.0)) is Outcome.SEATS_UNAVAILABLE
    assert decide(state, ConfirmHold("h1", 8, now=50.0)) is Outcome.NOT_OWNER
    assert decide(state, ConfirmHold("h1", 7, now=100.0)) is Outcome.HOLD_EXPIRED
    assert decide(state, ConfirmHold("nope", 7, now=50.0)) is Outcome.UNKNOWN_HOLD
    assert apply(state, ConfirmHold("h1", 7, now=99.0)) == (1, 2)
    assert state.holders == {1: 7, 2: 7} and state.held == {} and state.holds == {}
    apply(state, HoldSeats((3,), 8, "h3", 100.0))
    assert decide(state, ReleaseHold("h3", 7)) is Outcome.NOT_OWNER
    assert decide(state, ReleaseHold("h3", None)) is Outcome.HOLD_RELEASED  # the timer may release anyone's
    apply(state, ReleaseHold("h3", 8))
    assert state.is_free(3)


def test_blocked_seats_rules() -> None:
    state = SeatState(5)
    apply(state, Book(1, 1))
    apply(state, HoldSeats((2,), 1, "h", 10.0))
    assert decide(state, SetBlocked((1,), True)) is Outcome.SEATS_UNAVAILABLE
    assert decide(state, SetBlocked((2,), True)) is Outcome.SEATS_UNAVAILABLE
    apply(state, SetBlocked((4, 5), True))
    assert decide(state, Book(4, 2)) is Outcome.SEATS_UNAVAILABLE
    assert decide(state, Book(3, 2)) is Outcome.BOOKED
    apply(state, Book(3, 2))
    assert decide(state, Book(4, 3)) is Outcome.SOLD_OUT  # nothing free: booked, held and blocked
    apply(state, SetBlocked((4,), False))
    assert decide(state, Book(4, 3)) is Outcome.BOOKED


def test_best_available_prefers_the_middle() -> None:
    state = restore(14, [], layout=plain_layout([("A", 4), ("B", 6), ("C", 4)]))
    assert best_available(state, 2) == (7, 8)
    apply(state, BookSeats((7, 8), 1))
    assert best_available(state, 2) in ((5, 6), (9, 10), (2, 3), (12, 13))
    assert best_available(state, 4) in ((1, 2, 3, 4), (11, 12, 13, 14))
    assert best_available(state, 7) is None
    assert best_available(SeatState(14), 2) is None  # no layout, no rows to choose from


@settings(max_examples=200, deadline=None)
@given(
    script=st.lists(
        st.tuples(
            st.sampled_from(["book", "hold", "confirm", "release", "block", "unblock"]),
            st.lists(st.integers(1, 8), min_size=1, max_size=3, unique=True),
            st.integers(1, 3),
            st.integers(0, 5),
        ),
        max_size=80,
    )
)
def test_random_mixes_keep_seats_in_one_state(script: list[tuple[str, list[int], int, int]]) -> None:
    state = SeatState(8)
    holds: list[str] = []
    for step, (op, seats, user, pick) in enumerate(script):
        seats_ = tuple(seats)
        if op == "book":
            command: Any = BookSeats(seats_, user)
        elif op == "hold":
            command = HoldSeats(seats_, user, f"h{step}", 10.0)
        elif op in ("confirm", "release") and holds:
            hold_id = holds[pick % len(holds)]
            command = ConfirmHold(hold_id, user, now=float(pick * 3)) if op == "confirm" else ReleaseHold(hold_id, user)
        elif op in ("block", "unblock"):
            command = SetBlocked(seats_, op == "block")
        else:
            continue
        outcome = decide(state, command)
        if outcome.accepted:
            apply(state, command)
            if isinstance(command, HoldSeats):
                holds.append(command.hold_id)
            elif isinstance(command, ConfirmHold | ReleaseHold):
                holds.remove(command.hold_id)
        booked, held, blocked = set(state.holders), set(state.held), state.blocked
        assert not (booked & held) and not (booked & blocked) and not (held & blocked)
        assert state.available == 8 - len(booked) - len(held) - len(blocked) >= 0
        assert held == {seat for h in state.holds.values() for seat in h.seats}
