"""The waiting list's fitting rules (engine/waitlist.py), pure: no database, no actor, no event loop."""

from __future__ import annotations

import itertools

from engine.layout import detailed_layout, plain_layout
from engine.seats import HoldSeats, ReleaseHold, SeatState, SetBlocked, apply, restore
from engine.waitlist import (
    Entry,
    JoinWaitlist,
    LeaveWaitlist,
    Waitlist,
    WaitlistOutcome,
    WaitlistRules,
    decide_join,
    decide_leave,
    fit,
    join,
    offer_seats,
)
from engine.waitlist import restore as restore_waitlist

NOW = 1_000.0
RULES = WaitlistRules(offer_seconds=600)


def sold_out(rows: list[tuple[str, int]]) -> SeatState:
    """Every seat of a plain layout booked, by user 1000 + seat, as one booking per seat (id = seat)."""
    layout = plain_layout(rows)
    bookings = [(seat, seat, 1000 + seat, True) for seat in range(1, layout.total_seats + 1)]
    return restore(layout.total_seats, bookings, layout=layout)


def give_back(state: SeatState, *seats: int) -> None:
    """Seats come back to sale (as a cancel would): here, through an unblock of seats first blocked."""
    for seat in seats:
        user = state.holders.pop(seat)
        state.booked.pop(seat)
        state.per_user[user] -= 1
        state.blocked.add(seat)
    apply(state, SetBlocked(tuple(seats), False))


def waitlist_of(*parties: tuple[int, bool]) -> Waitlist:
    waitlist = Waitlist()
    for user, (size, together) in enumerate(parties, 1):
        join(waitlist, JoinWaitlist(f"e{user}", user, size, together))
    return waitlist


def offers(waitlist: Waitlist, state: SeatState, rules: WaitlistRules = RULES) -> dict[str, tuple[int, ...]]:
    counter = itertools.count(1)
    made = offer_seats(waitlist, state, rules, NOW, lambda: f"h{next(counter)}")
    return {offer.entry.id: offer.hold.seat_numbers for offer in made}


def test_scattered_single_seats_are_not_offered_to_a_party_of_four() -> None:
    state = sold_out([("A", 6), ("B", 6)])
    waitlist = waitlist_of((4, True))
    give_back(state, 1, 12)  # A1 and B6: two single seats in different rows
    assert offers(waitlist, state) == {}
    assert state.is_free(1) and state.is_free(12), "seats nobody on the list can use stay on sale"
    assert waitlist.entries["e1"].hold_id is None


def test_four_adjacent_seats_go_to_the_party_of_four_as_a_hold() -> None:
    state = sold_out([("A", 6), ("B", 6)])
    waitlist = waitlist_of((4, True))
    give_back(state, 7, 8, 9, 10, 11, 12)  # all of row B
    # as a `count` booking picks: B3-B6 would leave B1 alone, so B1-B4 (B5 and B6 stay a pair)
    assert offers(waitlist, state) == {"e1": (7, 8, 9, 10)}
    hold = state.holds["h1"]
    assert hold.user_id == 1 and hold.expires_at == NOW + 600
    assert waitlist.entries["e1"].hold_id == "h1" and waitlist.by_hold == {"h1": "e1"}


def test_a_block_that_strands_a_single_seat_is_avoided_when_another_is_clean() -> None:
    state = sold_out([("A", 5), ("B", 4)])
    waitlist = waitlist_of((4, True))
    give_back(state, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # row A has 5 seats (any 4 leave one alone), row B exactly 4
    assert offers(waitlist, state) == {"e1": (6, 7, 8, 9)}


def test_a_smaller_party_behind_gets_what_the_first_cannot_use() -> None:
    state = sold_out([("A", 6), ("B", 6)])
    waitlist = waitlist_of((4, True), (2, True), (1, True))
    give_back(state, 2, 3)  # a pair in row A
    assert offers(waitlist, state) == {"e2": (2, 3)}
    assert waitlist.position("e1") == 1 and waitlist.entries["e1"].hold_id is None
    give_back(state, 12)
    assert offers(waitlist, state) == {"e3": (12,)}


def test_the_first_entry_that_fits_is_served_first() -> None:
    state = sold_out([("A", 6)])
    waitlist = waitlist_of((2, True), (2, True))
    give_back(state, 3, 4)
    assert offers(waitlist, state) == {"e1": (3, 4)}
    assert waitlist.entries["e2"].hold_id is None


def test_one_change_can_serve_several_entries_in_order() -> None:
    state = sold_out([("A", 6), ("B", 6)])
    waitlist = waitlist_of((2, True), (4, True), (3, False))
    give_back(state, *range(1, 13))
    made = offers(waitlist, state)
    assert list(made) == ["e1", "e2", "e3"]
    assert len({seat for seats in made.values() for seat in seats}) == 9
    assert made["e2"] in ((7, 8, 9, 10), (8, 9, 10, 11), (2, 3, 4, 5), (1, 2, 3, 4), (3, 4, 5, 6))


def test_a_party_that_need_not_sit_together_takes_scattered_seats() -> None:
    state = sold_out([("A", 6), ("B", 6)])
    waitlist = waitlist_of((4, True), (3, False))
    give_back(state, 1, 6, 12)
    assert offers(waitlist, state) == {"e2": (1, 6, 12)}


def test_the_skip_ahead_is_bounded() -> None:
    state = sold_out([("A", 6)])
    parties = [(4, True)] * 5 + [(1, True)]
    give_back(state, 1)
    assert offers(waitlist_of(*parties), state, WaitlistRules(lookahead=5)) == {}
    assert offers(waitlist_of(*parties), state, WaitlistRules(lookahead=6)) == {"e6": (1,)}


def test_entries_holding_an_offer_do_not_count_against_the_lookahead() -> None:
    state = sold_out([("A", 6)])
    waitlist = waitlist_of((2, True), (1, True))
    give_back(state, 3, 4)
    assert offers(waitlist, state, WaitlistRules(lookahead=1)) == {"e1": (3, 4)}
    give_back(state, 6)
    assert offers(waitlist, state, WaitlistRules(lookahead=1)) == {"e2": (6,)}


def test_an_offer_over_the_seat_limit_is_skipped_and_the_entry_keeps_its_place() -> None:
    state = sold_out([("A", 6)])
    waitlist = waitlist_of((2, True), (2, True))
    state.per_user[1] = 3  # user 1 got seats elsewhere in this show meanwhile
    give_back(state, 3, 4)
    assert offers(waitlist, state, WaitlistRules(seat_limit=4)) == {"e2": (3, 4)}
    assert waitlist.position("e1") == 1


def test_wheelchair_spaces_and_companion_seats_are_not_offered_to_standard_parties() -> None:
    layout = detailed_layout(
        [("A", [("A1", "standard", "wheelchair"), ("A2", "standard", "companion"), ("A3", "standard", "standard")])]
    )
    state = restore(3, [(s, s, 1000 + s, True) for s in (1, 2, 3)], layout=layout)
    waitlist = waitlist_of((1, True), (2, False))
    give_back(state, 1, 2)
    assert offers(waitlist, state) == {}
    give_back(state, 3)
    assert offers(waitlist, state) == {"e1": (3,)}


def test_a_show_without_rows_serves_singles_and_scattered_parties() -> None:
    state = restore(5, [(s, s, 1000 + s, True) for s in range(1, 6)])
    waitlist = waitlist_of((2, False), (1, True))
    for seat in (2, 5):
        user = state.holders.pop(seat)
        state.booked.pop(seat)
        state.per_user[user] -= 1
    assert offers(waitlist, state) == {"e1": (2, 5)}
    entry = Entry("x", 9, 2, True, 1)
    assert fit(state, entry) is None


def test_joining_only_a_sold_out_show_once() -> None:
    state = sold_out([("A", 2)])
    waitlist = Waitlist()
    command = JoinWaitlist("e1", 1, 2, True)
    assert decide_join(waitlist, state, command, RULES, NOW) is WaitlistOutcome.JOINED
    join(waitlist, command)
    assert decide_join(waitlist, state, JoinWaitlist("e2", 1, 1), RULES, NOW) is WaitlistOutcome.ALREADY_WAITING
    full = WaitlistRules(max_entries=1)
    assert decide_join(waitlist, state, JoinWaitlist("e3", 2, 1), full, NOW) is WaitlistOutcome.WAITLIST_FULL
    limited = WaitlistRules(seat_limit=2)
    state.per_user[3] = 1
    assert decide_join(waitlist, state, JoinWaitlist("e4", 3, 2), limited, NOW) is WaitlistOutcome.SEAT_LIMIT
    state.starts_at = NOW
    assert decide_join(waitlist, state, JoinWaitlist("e5", 4, 1), RULES, NOW) is WaitlistOutcome.SHOW_STARTED
    state.starts_at = float("inf")
    give_back(state, 1)
    assert decide_join(waitlist, state, JoinWaitlist("e6", 5, 1), RULES, NOW) is WaitlistOutcome.SEATS_AVAILABLE
    no_rows = restore(2, [(1, 1, 7, True), (2, 2, 8, True)])
    outcome = decide_join(Waitlist(), no_rows, JoinWaitlist("e7", 5, 2, True), RULES, NOW)
    assert outcome is WaitlistOutcome.NO_ADJACENT_SEATS
    assert decide_join(Waitlist(), no_rows, JoinWaitlist("e8", 5, 2, False), RULES, NOW) is WaitlistOutcome.JOINED


def test_leaving_and_positions() -> None:
    waitlist = waitlist_of((1, True), (2, True), (3, True))
    assert [waitlist.position(e) for e in ("e1", "e2", "e3")] == [1, 2, 3]
    assert decide_leave(waitlist, LeaveWaitlist("e2", 99)) is WaitlistOutcome.UNKNOWN_ENTRY  # not theirs
    assert decide_leave(waitlist, LeaveWaitlist("nope", 2)) is WaitlistOutcome.UNKNOWN_ENTRY
    assert decide_leave(waitlist, LeaveWaitlist("e2", 2)) is WaitlistOutcome.LEFT
    waitlist.remove("e2")
    assert waitlist.position("e3") == 2
    join(waitlist, JoinWaitlist("e4", 4, 1))
    assert waitlist.entries["e4"].number == 4  # numbers are never reused


def test_an_ended_offer_ends_its_entry_and_the_seats_go_to_the_next() -> None:
    state = sold_out([("A", 4)])
    waitlist = waitlist_of((2, True), (2, True))
    give_back(state, 2, 3)
    assert offers(waitlist, state) == {"e1": (2, 3)}
    apply(state, ReleaseHold("h1", None))  # expired
    assert waitlist.offer_ended("h1").id == "e1"
    assert waitlist.offer_ended("h1") is None and "e1" not in waitlist.entries
    assert offers(waitlist, state) == {"e2": (2, 3)}


def test_restoring_drops_entries_whose_offer_is_gone() -> None:
    entries = [Entry("b", 2, 1, True, 5, None), Entry("a", 1, 2, True, 3, "h-live"), Entry("c", 3, 1, True, 6, "gone")]
    waitlist = restore_waitlist(entries, ["h-live"], next_number=9)
    assert list(waitlist.entries) == ["a", "b"]
    assert waitlist.by_hold == {"h-live": "a"} and waitlist.next_number == 9 and waitlist.waiting == 1


def test_offers_need_seats_and_time() -> None:
    state = sold_out([("A", 4)])
    waitlist = waitlist_of((1, True))
    assert offers(waitlist, state) == {}  # nothing free
    give_back(state, 2)
    state.starts_at = NOW
    assert offers(waitlist, state) == {}  # the show has started
    state.starts_at = float("inf")
    apply(state, HoldSeats((2,), 50, "other", NOW + 10))
    assert offers(waitlist, state) == {}
