"""The engine's front door: routes book and cancel commands to the right show actor."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from engine.actor import BestAvailable, Look, Message, Reply, ShowActor, Timing, Watch
from engine.errors import Busy, ShuttingDown
from engine.feed import SeatEvent, Snapshot, Subscription
from engine.layout import ShowPlan
from engine.ports import Journal, ShowStore
from engine.seats import (
    Book,
    BookSeats,
    Cancel,
    CancelOrder,
    CheckIn,
    ConfirmHold,
    HoldSeats,
    Outcome,
    ReleaseHold,
    SetBlocked,
)


@dataclass(frozen=True, slots=True)
class EngineLimits:
    mailbox_size: int = 4096  # messages waiting per show
    hold_seconds: float = 300.0  # how long held seats wait for their confirmation
    max_actors: int = 10_000  # live show actors; idle ones are retired past this
    timing: Timing = field(default_factory=Timing)  # cancel cutoff and check-in window


class BookingEngine:
    def __init__(self, store: ShowStore, journal: Journal, limits: EngineLimits = EngineLimits()) -> None:
        self._store = store
        self._journal = journal
        self._limits = limits
        self._actors: dict[int, ShowActor] = {}
        self._closed = False
        self._retiring: set[asyncio.Task[None]] = set()

    async def book(self, show_id: int, user_id: int, seat_number: int) -> Reply:
        return await self._ask(show_id, Book(seat_number, user_id))

    async def book_seats(self, show_id: int, user_id: int, seats: tuple[int, ...]) -> Reply:
        return await self._ask(show_id, BookSeats(seats, user_id))

    async def book_best(self, show_id: int, user_id: int, count: int, wheelchair: int = 0) -> Reply:
        return await self._ask(show_id, BestAvailable(count, user_id, wheelchair))

    async def hold(self, show_id: int, user_id: int, seats: tuple[int, ...]) -> Reply:
        hold_id = uuid.uuid4().hex
        return await self._ask(show_id, HoldSeats(seats, user_id, hold_id, time.time() + self._limits.hold_seconds))

    async def confirm_hold(self, hold_id: str, user_id: int) -> Reply:
        return await self._ask_about_hold(hold_id, ConfirmHold(hold_id, user_id, time.time()))

    async def release_hold(self, hold_id: str, user_id: int) -> Reply:
        return await self._ask_about_hold(hold_id, ReleaseHold(hold_id, user_id))

    async def set_blocked(self, show_id: int, seats: tuple[int, ...], blocked: bool, by_user: int) -> Reply:
        return await self._ask(show_id, SetBlocked(seats, blocked, by_user))

    async def _ask_about_hold(self, hold_id: str, command: ConfirmHold | ReleaseHold) -> Reply:
        show_id = await self._store.show_of_hold(hold_id)
        if show_id is None:
            return Reply(Outcome.UNKNOWN_HOLD)
        return await self._ask(show_id, command)

    async def cancel(self, booking_id: int, user_id: int) -> Reply:
        show_id = await self._store.show_of_booking(booking_id)
        if show_id is None:
            return Reply(Outcome.UNKNOWN_BOOKING, booking_id)
        return await self._ask(show_id, Cancel(booking_id, user_id))

    async def cancel_order(self, order_id: int, user_id: int) -> Reply:
        """Every live seat of the order (its first booking's id), all or none."""
        show_id = await self._store.show_of_booking(order_id)
        if show_id is None:
            return Reply(Outcome.UNKNOWN_ORDER)
        return await self._ask(show_id, CancelOrder(order_id, user_id))

    async def check_in(self, show_id: int, booking_id: int, staff_id: int) -> Reply:
        """A ticket scanned at the door of `show_id`: written ahead through the show's actor, like a booking."""
        return await self._ask(show_id, CheckIn(booking_id, staff_id, round(time.time(), 6)))

    async def watch(self, show_id: int, since: int | None) -> tuple[list[SeatEvent | Snapshot], Subscription]:
        """Subscribe to a show's committed changes; see ShowFeed.subscribe."""
        return await self._ask(show_id, Watch(since))

    def unwatch(self, show_id: int, subscription: Subscription) -> None:
        actor = self._actors.get(show_id)
        if actor is not None and actor.feed is not None:
            actor.feed.unsubscribe(subscription)
        subscription.close()

    async def seat_map(self, show_id: int) -> Snapshot:
        """The committed seat map, from memory once the show's actor is loaded."""
        actor = self._actor(show_id)
        if actor.feed is not None:
            return actor.feed.snapshot()
        return await self._ask(show_id, Look())

    def end_subscriptions(self) -> None:
        for actor in self._actors.values():
            if actor.feed is not None:
                actor.feed.close()

    def plan(self, show_id: int) -> ShowPlan:
        """The layout and prices of a loaded show (an empty plan when it is not loaded or has neither)."""
        actor = self._actors.get(show_id)
        return actor.plan if actor is not None else ShowPlan()

    def subscriber_counts(self) -> dict[int, int]:
        return {show_id: actor.feed.subscribers for show_id, actor in self._actors.items() if actor.feed}

    def mailbox_depths(self) -> dict[int, int]:
        return {show_id: actor.mailbox_depth for show_id, actor in self._actors.items()}

    async def close(self) -> None:
        """Stop taking messages and let every actor finish what it already holds."""
        self._closed = True
        await asyncio.gather(*(actor.stop() for actor in list(self._actors.values())))

    async def _ask(self, show_id: int, command: Message) -> Any:
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._actor(show_id).tell(command, reply)
        return await reply

    def _actor(self, show_id: int) -> ShowActor:
        actor = self._actors.get(show_id)
        if actor is not None:
            return actor
        if self._closed:
            raise ShuttingDown()
        if len(self._actors) >= self._limits.max_actors:
            self._retire_idle()
        actor = ShowActor(
            show_id, self._store, self._journal, self._limits.mailbox_size, self._forget, self._limits.timing
        )
        self._actors[show_id] = actor
        return actor

    def _retire_idle(self) -> None:
        idle = [actor for actor in self._actors.values() if actor.idle]
        if not idle:
            raise Busy("the table of live shows")
        for actor in idle[: max(1, len(idle) // 2)]:
            del self._actors[actor.show_id]
            task = asyncio.get_running_loop().create_task(actor.stop())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    def _forget(self, actor: ShowActor) -> None:
        if self._actors.get(actor.show_id) is actor:
            del self._actors[actor.show_id]
