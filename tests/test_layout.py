"""The pure layout rules: numbering, companions, and best available (no orphans, bounded work), no I/O."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.layout import MAX_WHEELCHAIR_CANDIDATES, FreeIndex, Work, detailed_layout, plain_layout
from engine.seats import (
    Book,
    BookSeats,
    CancelOrder,
    CheckIn,
    Outcome,
    apply,
    best_available,
    decide,
    record_booking_id,
    record_order,
    restore,
)


def hall(rows: int, width: int) -> FreeIndex:
    return FreeIndex(plain_layout([(f"R{r}", width) for r in range(rows)]))


def test_numbering_skips_gaps_and_companions_know_their_wheelchair_space() -> None:
    layout = detailed_layout(
        [
            ("A", [("A1", "standard", "standard"), None, ("A2", "premium", "standard")]),
            ("B", [("B1", "standard", "wheelchair"), ("B2", "standard", "companion"), None, ("B3", "s", "companion")]),
        ]
    )
    assert [p.seat for p in layout.places] == [1, 2, 3, 4, 5]
    assert layout.rows[1].first_seat == 3 and layout.place(2).category == "premium"
    assert layout.companions() == {4: (3,), 5: ()}
    state = restore(5, [], layout=layout)
    assert decide(state, Book(4, 1)) is Outcome.COMPANION_NEEDS_WHEELCHAIR
    assert decide(state, BookSeats((3, 4), 1)) is Outcome.BOOKED
    assert decide(state, BookSeats((4, 1), 1)) is Outcome.COMPANION_NEEDS_WHEELCHAIR


def test_best_available_leaves_no_single_orphan_when_it_can() -> None:
    index = hall(1, 5)
    index.take(1)  # _ 2 3 4 5 free: seats 3-4 (nearest the middle) would strand seat 2 and seat 5
    assert index.best(2) in ((2, 3), (4, 5))
    index = hall(1, 3)
    assert index.best(2) in ((1, 2), (2, 3))  # no choice avoids an orphan: still sell the pair
    # the middle row could only strand a seat; a clean pair one row further back wins
    index = hall(3, 3)
    for seat in (1, 2, 3, 7, 8, 9):
        index.take(seat)
    assert index.best(2) in ((4, 5), (5, 6))  # only row 2 is free: an orphan either way
    index = FreeIndex(plain_layout([("A", 4), ("B", 3), ("C", 4)]))
    assert index.best(2) in ((1, 2), (3, 4), (9, 10), (10, 11))  # B's pairs would strand a seat


def brute_force(index: FreeIndex, rows: int, width: int, count: int) -> tuple[set[tuple[int, ...]], float | None]:
    """Every run of `count` free seats that strands no single seat, and the best score among them."""
    middle = (rows - 1) / 2
    clean: set[tuple[int, ...]] = set()
    best = None
    for r in range(rows):
        seats = [r * width + i + 1 for i in range(width)]
        free = [index.is_free(s) for s in seats]
        for start in range(width - count + 1):
            if not all(free[start : start + count]):
                continue
            left_orphan = start >= 1 and free[start - 1] and (start < 2 or not free[start - 2])
            end = start + count
            right_orphan = end < width and free[end] and (end + 1 >= width or not free[end + 1])
            if left_orphan or right_orphan:
                continue
            score = abs(r - middle) + abs(start - (width - count) / 2) / width
            if best is None or score < best - 1e-9:
                best, clean = score, {tuple(seats[start:end])}
            elif abs(score - best) < 1e-9:
                clean.add(tuple(seats[start:end]))
    return clean, best


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(1, 5),
    width=st.integers(1, 9),
    count=st.integers(1, 4),
    taken=st.lists(st.integers(1, 45), max_size=30),
)
def test_best_available_matches_a_brute_force_search(rows: int, width: int, count: int, taken: list[int]) -> None:
    index = hall(rows, width)
    for seat in taken:
        if seat <= rows * width:
            index.take(seat)
    chosen = index.best(count)
    clean, _ = brute_force(index, rows, width, count)
    if clean:
        assert chosen in clean
    elif chosen is not None:
        assert all(index.is_free(s) for s in chosen) and len(chosen) == count
        assert len({(s - 1) // width for s in chosen}) == 1  # one row
    else:
        for r in range(rows):  # really no run of `count` free seats anywhere
            free = [index.is_free(r * width + i + 1) for i in range(width)]
            assert not any(all(free[i : i + count]) for i in range(width - count + 1))


def test_best_available_work_is_bounded_on_a_full_size_hall() -> None:
    """100 x 100 seats: whatever the pattern of taken seats, one search looks at each row once (a few big-integer
    operations per row) and at no seat one by one; wheelchair searches examine a bounded number of windows."""
    rng = random.Random(12)
    patterns = {
        "empty": set(),
        "checkerboard": {s for s in range(1, 10_001) if s % 2},
        "every third": {s for s in range(1, 10_001) if s % 3 == 0},
        "random half": set(rng.sample(range(1, 10_001), 5_000)),
        "full but the back corner": set(range(1, 9_999)),
    }
    slowest = 0.0
    for name, taken in patterns.items():
        state = restore(10_000, [], layout=plain_layout([(f"R{r}", 100) for r in range(100)]))
        for seat in taken:
            apply(state, Book(seat, 1))
        for count in (1, 2, 5, 10):
            work = Work()
            started = time.perf_counter()
            chosen = best_available(state, count, work=work)
            slowest = max(slowest, time.perf_counter() - started)
            assert work.rows == 100 and work.candidates == 0, (name, count, work)
            assert chosen is None or all(state.is_free(s) for s in chosen)
    # Generous (the target is ~1 ms per search; issue 11 measured 12-13 ms for the old seat-by-seat scan),
    # so that a busy shared machine does not make it flaky: the work counts above are the real bound.
    assert slowest < 0.05, slowest
    wheelchair = detailed_layout(
        [(f"R{r}", [(f"R{r}-{i}", "standard", "wheelchair") for i in range(100)]) for r in range(100)]
    )
    index = FreeIndex(wheelchair)
    work = Work()
    assert index.best(10, wheelchair=1, work=work) is not None
    assert work.candidates <= MAX_WHEELCHAIR_CANDIDATES


def test_orders_and_check_in_rules() -> None:
    state = restore(6, [])
    apply(state, BookSeats((1, 2, 3), 7))
    for booking_id, seat in ((10, 1), (11, 2), (12, 3)):
        record_booking_id(state, seat, booking_id)
    record_order_id = record_order(state, (10, 11, 12))
    assert record_order_id == 10 and state.order(12) == 10
    assert decide(state, CancelOrder(11, 7)) is Outcome.UNKNOWN_ORDER  # a later seat is not an order
    assert decide(state, CancelOrder(10, 8)) is Outcome.NOT_OWNER
    state.check_in_from, state.check_in_until = 100.0, 200.0
    assert decide(state, CheckIn(11, 99, now=50.0)) is Outcome.CHECK_IN_CLOSED
    assert decide(state, CheckIn(11, 99, now=150.0)) is Outcome.CHECKED_IN
    apply(state, CheckIn(11, 99, now=150.0))
    assert decide(state, CheckIn(11, 99, now=151.0)) is Outcome.ALREADY_CHECKED_IN
    assert decide(state, CancelOrder(10, 7)) is Outcome.TICKET_USED  # all or none
    assert decide(state, CheckIn(99, 99, now=150.0)) is Outcome.UNKNOWN_TICKET
    state.cancel_until = 90.0
    assert decide(state, Book(4, 1), now=89.0) is Outcome.BOOKED
    state.starts_at = 100.0
    assert decide(state, Book(4, 1), now=100.0) is Outcome.SHOW_STARTED
