"""A show's committed seat view, its recent events and its live subscribers.

The actor publishes here only from commit callbacks, so nothing a subscriber sees can be rolled back. Each
change gets the next per-show sequence number (continuing the count of the show's journal entries, so numbers
survive a restart). Subscribers read from their own bounded queue; one that falls behind is dropped rather
than slowing the actor, and reconnects with `since` to catch up from the recent history or a fresh snapshot.

A feed outlives its actor: an idle actor is retired even while people watch its show, and the next actor of
that show picks the feed up again. So watchers cost a feed each, never a live actor, and are bounded on their
own: per show, and in total across shows (SubscriberTally).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Busy

KINDS = ("booked", "cancelled", "held", "released", "blocked", "unblocked")


@dataclass(frozen=True, slots=True)
class SeatEvent:
    seq: int
    kind: str  # one of KINDS
    seat: int

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "seat": self.seat}


@dataclass(frozen=True, slots=True)
class WaitlistOffered:
    """Seats offered to a waiting-list entry (engine/waitlist.py); the held seats are published as `held` first.
    Names the entry, never its user: only the entry's owner knows its id."""

    seq: int
    entry_id: str
    seats: tuple[int, ...]
    expires_at: str  # ISO 8601

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "waitlist_offered",
            "seq": self.seq,
            "entry_id": self.entry_id,
            "seats": list(self.seats),
            "expires_at": self.expires_at,
        }


FeedEvent = SeatEvent | WaitlistOffered


@dataclass(frozen=True, slots=True)
class Snapshot:
    show_id: int
    seq: int
    total_seats: int
    booked: list[int]
    held: list[int] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "show_id": self.show_id,
            "seq": self.seq,
            "total_seats": self.total_seats,
            "booked": self.booked,
            "held": self.held,
            "blocked": self.blocked,
        }


class Subscription:
    def __init__(self, buffer: int) -> None:
        self._queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(buffer)
        self.dropped = False
        self.closed = False

    def offer(self, event: FeedEvent) -> bool:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, dropped: bool = False) -> None:
        if self.closed:
            return
        self.closed, self.dropped = True, dropped
        while True:  # make room for the end marker; a dropped subscriber resyncs from `since` anyway
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def next(self) -> FeedEvent | None:
        """The next event, or None once the subscription is closed or dropped."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()


class SubscriberTally:
    """Live subscriptions across all feeds of one engine, against one limit."""

    def __init__(self, limit: int) -> None:
        assert limit >= 1
        self.limit = limit
        self.count = 0


class ShowFeed:
    def __init__(
        self,
        show_id: int,
        total_seats: int,
        booked: Iterable[int],
        seq: int,
        held: Iterable[int] = (),
        blocked: Iterable[int] = (),
        history: int = 1024,
        buffer: int = 256,
        max_subscribers: int = 5000,
        tally: SubscriberTally | None = None,
    ) -> None:
        self.show_id = show_id
        self.total_seats = total_seats
        self.booked = set(booked)
        self.held = set(held)
        self.blocked = set(blocked)
        self.seq = seq
        self._history: deque[FeedEvent] = deque(maxlen=history)
        self._buffer = buffer
        self._max_subscribers = max_subscribers
        self._subscribers: set[Subscription] = set()
        self._tally = tally if tally is not None else SubscriberTally(max_subscribers)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, seat: int) -> None:
        assert kind in KINDS, kind
        if kind == "booked":
            assert seat not in self.booked, seat
            self.held.discard(seat)  # a confirmed hold's seat goes straight from held to booked
            self.booked.add(seat)
        elif kind == "cancelled":
            self.booked.discard(seat)
        elif kind == "held":
            self.held.add(seat)
        elif kind == "released":
            self.held.discard(seat)
        elif kind == "blocked":
            self.blocked.add(seat)
        else:
            self.blocked.discard(seat)
        self.seq += 1
        self._send(SeatEvent(self.seq, kind, seat))

    def publish_offer(self, entry_id: str, seats: tuple[int, ...], expires_at: str) -> None:
        """A waiting-list offer, after its held seats: one event of its own, with the next seq."""
        self.seq += 1
        self._send(WaitlistOffered(self.seq, entry_id, seats, expires_at))

    def _send(self, event: FeedEvent) -> None:
        self._history.append(event)
        for subscription in list(self._subscribers):
            if not subscription.offer(event):
                self._leave(subscription)
                subscription.close(dropped=True)

    def resync(self, booked: Iterable[int], held: Iterable[int] = (), blocked: Iterable[int] = ()) -> None:
        """After a reload from disk, publish whatever differs (a commit that was reported failed may have landed)."""
        for view, on_disk, gone, came in (
            (self.booked, set(booked), "cancelled", "booked"),
            (self.held, set(held), "released", "held"),
            (self.blocked, set(blocked), "unblocked", "blocked"),
        ):
            for seat in sorted(view - on_disk):
                self.publish(gone, seat)
            for seat in sorted(on_disk - view):
                self.publish(came, seat)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.show_id, self.seq, self.total_seats, sorted(self.booked), sorted(self.held), sorted(self.blocked)
        )

    def subscribe(self, since: int | None) -> tuple[list[FeedEvent | Snapshot], Subscription]:
        """What the subscriber missed (events after `since`, or a snapshot), and its live subscription."""
        if len(self._subscribers) >= self._max_subscribers:
            raise Busy(f"the subscriber list of show {self.show_id} ({self._max_subscribers})")
        if self._tally.count >= self._tally.limit:
            raise Busy(f"the limit of live subscribers ({self._tally.limit})")
        backlog: list[FeedEvent | Snapshot]
        oldest = self._history[0].seq if self._history else self.seq + 1
        if since is not None and since == self.seq:
            backlog = []
        elif since is not None and oldest - 1 <= since < self.seq:
            backlog = [event for event in self._history if event.seq > since]
        else:
            backlog = [self.snapshot()]
        subscription = Subscription(self._buffer)
        self._subscribers.add(subscription)
        self._tally.count += 1
        return backlog, subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._leave(subscription)
        subscription.close()

    def _leave(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
            self._tally.count -= 1
            assert self._tally.count >= 0

    def close(self) -> None:
        for subscription in list(self._subscribers):
            self.unsubscribe(subscription)
