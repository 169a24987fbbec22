"""The show feed without I/O: numbering, history replay, snapshots, dropping slow subscribers."""

from __future__ import annotations

import pytest

from engine.errors import Busy
from engine.feed import SeatEvent, ShowFeed, Snapshot


async def test_publish_numbers_changes_and_updates_the_view() -> None:
    feed = ShowFeed(1, 10, [3], seq=7)
    feed.publish("booked", 4)
    feed.publish("cancelled", 3)
    assert feed.seq == 9 and feed.booked == {4}
    assert feed.snapshot() == Snapshot(1, 9, 10, [4])


async def test_subscribe_replays_what_was_missed_or_sends_a_snapshot() -> None:
    feed = ShowFeed(1, 10, [], seq=0, history=3)
    for seat in range(1, 6):
        feed.publish("booked", seat)
    backlog, _ = feed.subscribe(3)
    assert backlog == [SeatEvent(4, "booked", 4), SeatEvent(5, "booked", 5)]
    assert feed.subscribe(5)[0] == []
    for since in (None, 0, 1, 99):  # nothing to go on, too old for the history, or from another life
        backlog, _ = feed.subscribe(since)
        assert backlog == [Snapshot(1, 5, 10, [1, 2, 3, 4, 5])], since
    assert feed.subscribe(2)[0][0] == SeatEvent(3, "booked", 3)  # the oldest kept event is enough


async def test_subscribers_get_events_in_order_and_slow_ones_are_dropped() -> None:
    feed = ShowFeed(1, 10, [], seq=0, buffer=2)
    _, fast = feed.subscribe(None)
    _, slow = feed.subscribe(None)
    feed.publish("booked", 1)
    assert await fast.next() == SeatEvent(1, "booked", 1)
    feed.publish("booked", 2)
    assert await fast.next() == SeatEvent(2, "booked", 2)
    feed.publish("booked", 3)  # slow never read: its buffer of 2 overflows
    assert slow.dropped and feed.subscribers == 1
    assert await fast.next() == SeatEvent(3, "booked", 3)
    seen = []
    while (event := await slow.next()) is not None:
        seen.append(event)
    assert seen and all(isinstance(e, SeatEvent) for e in seen)


async def test_resync_publishes_the_difference_with_disk() -> None:
    feed = ShowFeed(1, 10, [1, 2], seq=0)
    _, subscription = feed.subscribe(None)
    feed.resync([2, 3])
    assert feed.booked == {2, 3}
    assert [await subscription.next(), await subscription.next()] == [
        SeatEvent(1, "cancelled", 1),
        SeatEvent(2, "booked", 3),
    ]


async def test_subscriber_limit_and_close() -> None:
    feed = ShowFeed(1, 10, [], seq=0, max_subscribers=2)
    _, first = feed.subscribe(None)
    feed.subscribe(None)
    with pytest.raises(Busy):
        feed.subscribe(None)
    feed.close()
    assert feed.subscribers == 0 and await first.next() is None
