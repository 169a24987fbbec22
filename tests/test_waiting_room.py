"""The on-sale waiting room's rules (engine/waiting_room.py), pure: the published seed reproduces the order, and
admission never outruns the free seats."""

from __future__ import annotations

import hashlib
import hmac
import random

from engine.waiting_room import (
    Standing,
    WaitingRoom,
    active,
    admission_order,
    admit,
    finish,
    join,
    open_sale,
    standing,
)


def test_the_published_seed_reproduces_the_order_of_2000_early_joiners() -> None:
    room = WaitingRoom(on_sale_at=100.0)
    published_before = room.commitment
    assert room.published_seed is None, "the seed stays secret until the sale opens"
    ids = [f"q{random.Random(7).getrandbits(64):x}-{n}" for n in range(2000)]
    for queue_id in ids:
        assert join(room, queue_id)
    assert {standing(room, q, 50.0) for q in ids[:5]} == {(Standing.WAITING, 0)}
    order = open_sale(room)
    seed = bytes.fromhex(room.published_seed or "")
    # What any client can do with the published seed and the list of ids, without the service's code:
    assert hashlib.sha256(seed).hexdigest() == published_before
    recomputed = sorted(ids, key=lambda q: (hmac.new(seed, q.encode(), hashlib.sha256).hexdigest(), q))
    assert order == recomputed == admission_order(seed, reversed(ids))
    assert order != ids, "shuffled, not in joining order"
    admitted = []
    while room.line:
        for queue_id, _ in admit(room, free_seats=40, seats_per_buyer=4, now=200.0, pass_seconds=60):
            admitted.append(queue_id)
            finish(room, queue_id)
    assert admitted == order


def test_late_joiners_are_served_first_come_first_served_after_the_early_ones() -> None:
    room = WaitingRoom(on_sale_at=100.0)
    for queue_id in ("a", "b", "c"):
        join(room, queue_id)
    early = open_sale(room)
    for queue_id in ("x", "y"):
        join(room, queue_id)
    assert list(room.line) == [*early, "x", "y"]
    assert standing(room, "y", 101.0) == (Standing.WAITING, 5)
    assert not join(room, "x"), "one place per id"


def test_admission_never_exceeds_the_free_seats_per_buyer() -> None:
    room = WaitingRoom(on_sale_at=0.0)
    for n in range(100):
        join(room, f"q{n}")
    open_sale(room)
    first = admit(room, free_seats=10, seats_per_buyer=4, now=1.0, pass_seconds=30)
    assert len(first) == 3  # 3 buyers could take 12 >= 10 seats: a fourth would be one too many
    assert admit(room, free_seats=10, seats_per_buyer=4, now=2.0, pass_seconds=30) == []
    finish(room, first[0][0])  # booked: their share goes to the next
    assert [q for q, _ in admit(room, free_seats=6, seats_per_buyer=4, now=3.0, pass_seconds=30)] == []
    assert len(admit(room, free_seats=9, seats_per_buyer=4, now=3.0, pass_seconds=30)) == 1
    assert active(room, 3.0) == 3
    assert len(admit(room, free_seats=9, seats_per_buyer=4, now=40.0, pass_seconds=30)) == 3, "passes expired"
    assert standing(room, first[1][0], 40.0) == (Standing.DONE, 0)
    assert room.served == 7 and standing(room, room.line[-1], 40.0) == (Standing.WAITING, 100 - 7)
    assert standing(room, room.line[0], 40.0) == (Standing.WAITING, 1)


def test_a_sold_out_show_tells_everyone_waiting_at_once() -> None:
    room = WaitingRoom(on_sale_at=0.0)
    for n in range(5):
        join(room, f"q{n}")
    open_sale(room)
    (lucky, _), *_ = admit(room, free_seats=1, seats_per_buyer=1, now=1.0, pass_seconds=30)
    assert admit(room, free_seats=0, seats_per_buyer=1, now=2.0, pass_seconds=30) == []
    waiting = [q for q in (f"q{n}" for n in range(5)) if q != lucky]
    assert {standing(room, q, 2.0)[0] for q in waiting} == {Standing.SOLD_OUT}
    assert standing(room, lucky, 2.0) == (Standing.ADMITTED, 0)


def test_the_room_is_bounded() -> None:
    room = WaitingRoom(on_sale_at=0.0, max_size=3)
    assert [join(room, q) for q in "abcd"] == [True, True, True, False]
    open_sale(room)
    admit(room, free_seats=1, seats_per_buyer=1, now=1.0, pass_seconds=30)
    assert join(room, "d"), "an admitted buyer's place in the line is free again"
