"""A show's committed seat view, its recent events and its live subscribers.

The actor publishes here only from commit callbacks, so nothing a subscriber sees can be rolled back. Each
change gets the next per-show sequence number (continuing the count of the show's journal entries, so numbers
survive a restart). Subscribers read from their own bounded queue; one that falls behind is dropped rather
than slowing the actor, and reconnects with `since` to catch up from the recent history or a fresh snapshot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.errors import Busy


@dataclass(frozen=True, slots=True)
class SeatEvent:
    seq: int
    kind: str  # "booked" or "cancelled"
    seat: int

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "seat": self.seat}


@dataclass(frozen=True, slots=True)
class Snapshot:
    show_id: int
    seq: int
    total_seats: int
    booked: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "show_id": self.show_id,
            "seq": self.seq,
            "total_seats": self.total_seats,
            "booked": self.booked,
        }


class Subscription:
    def __init__(self, buffer: int) -> None:
        self._queue: asyncio.Queue[SeatEvent | None] = asyncio.Queue(buffer)
        self.dropped = False
        self.closed = False

    def offer(self, event: SeatEvent) -> bool:
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

    async def next(self) -> SeatEvent | None:
        """The next event, or None once the subscription is closed or dropped."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()


class ShowFeed:
    def __init__(
        self,
        show_id: int,
        total_seats: int,
        booked: Iterable[int],
        seq: int,
        history: int = 1024,
        buffer: int = 256,
        max_subscribers: int = 5000,
    ) -> None:
        self.show_id = show_id
        self.total_seats = total_seats
        self.booked = set(booked)
        self.seq = seq
        self._history: deque[SeatEvent] = deque(maxlen=history)
        self._buffer = buffer
        self._max_subscribers = max_subscribers
        self._subscribers: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, seat: int) -> None:
        assert kind in ("booked", "cancelled")
        if kind == "booked":
            assert seat not in self.booked, seat
            self.booked.add(seat)
        else:
            self.booked.discard(seat)
        self.seq += 1
        event = SeatEvent(self.seq, kind, seat)
        self._history.append(event)
        for subscription in list(self._subscribers):
            if not subscription.offer(event):
                self._subscribers.discard(subscription)
                subscription.close(dropped=True)

    def resync(self, booked: Iterable[int]) -> None:
        """After a reload from disk, publish whatever differs (a commit that was reported failed may have landed)."""
        on_disk = set(booked)
        for seat in sorted(self.booked - on_disk):
            self.publish("cancelled", seat)
        for seat in sorted(on_disk - self.booked):
            self.publish("booked", seat)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.show_id, self.seq, self.total_seats, sorted(self.booked))

    def subscribe(self, since: int | None) -> tuple[list[SeatEvent | Snapshot], Subscription]:
        """What the subscriber missed (events after `since`, or a snapshot), and its live subscription."""
        if len(self._subscribers) >= self._max_subscribers:
            raise Busy(f"the subscriber list of show {self.show_id}")
        backlog: list[SeatEvent | Snapshot]
        oldest = self._history[0].seq if self._history else self.seq + 1
        if since is not None and since == self.seq:
            backlog = []
        elif since is not None and oldest - 1 <= since < self.seq:
            backlog = [event for event in self._history if event.seq > since]
        else:
            backlog = [self.snapshot()]
        subscription = Subscription(self._buffer)
        self._subscribers.add(subscription)
        return backlog, subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        subscription.close()

    def close(self) -> None:
        for subscription in list(self._subscribers):
            self.unsubscribe(subscription)
