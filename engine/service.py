"""The engine's front door: routes book and cancel commands to the right show actor.

The table of actors is the in-process half of "one decider per show": at most one live actor per show id, a
new one only after the previous one has ended, and only an idle actor (parked, nothing queued, nothing in
flight) is retired. The database's owner epoch (see ShowStore.load_show and the journal's fence) is the other
half: it refuses whatever a stale actor, of this process or another, still tries to write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from engine.actor import BestAvailable, Look, Message, Reload, Reply, ShowActor, Timing, Watch
from engine.errors import Busy, NotOwner, ShuttingDown
from engine.feed import SeatEvent, ShowFeed, Snapshot, SubscriberTally, Subscription
from engine.layout import ShowPlan
from engine.ports import Journal, ShowInfo, ShowSnapshot, ShowStore, StorageUnavailable
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
    SeatState,
    SetBlocked,
)

log = logging.getLogger(__name__)
OWNER_MEMORY_SECONDS = 1.0  # how long a show's remote owner is trusted without asking the database again
MAX_REMEMBERED_OWNERS = 100_000


@dataclass(frozen=True, slots=True)
class EngineLimits:
    mailbox_size: int = 4096  # messages waiting per show
    hold_seconds: float = 300.0  # how long held seats wait for their confirmation
    max_actors: int = 10_000  # live show actors; idle ones are retired past this (watched or not)
    max_subscribers: int = 100_000  # live-event subscriptions across all shows
    user_recheck_seconds: float = 30.0  # holds of deleted users are released within this
    timing: Timing = field(default_factory=Timing)  # cancel cutoff and check-in window
    max_seats_per_user: int = 0  # held + booked seats of one user in one show; 0: no limit (engine/seats.py)


class BookingEngine:
    def __init__(self, store: ShowStore, journal: Journal, limits: EngineLimits = EngineLimits()) -> None:
        self._store = store
        self._journal = journal
        self._limits = limits
        self._actors: dict[int, ShowActor] = {}  # at most one live actor per show id
        self._ending: dict[int, ShowActor] = {}  # retired, not yet ended: a successor waits for it
        self._feeds: dict[int, ShowFeed] = {}  # kept while the show has an actor or a subscriber
        self._tally = SubscriberTally(limits.max_subscribers)
        self._wakeups: dict[int, asyncio.TimerHandle] = {}  # retired watched shows with holds to expire
        # Cluster mode: shows that other nodes decide for, with their address, remembered for a moment.
        self._elsewhere: dict[int, tuple[str, float]] = {}
        self._closed = False
        self._sweeper: asyncio.Task[None] | None = None

    async def book(self, show_id: int, user_id: int, seat_number: int) -> Reply:
        return await self._ask(show_id, Book(seat_number, user_id, self._limits.max_seats_per_user))

    async def book_seats(self, show_id: int, user_id: int, seats: tuple[int, ...]) -> Reply:
        return await self._ask(show_id, BookSeats(seats, user_id, self._limits.max_seats_per_user))

    async def book_best(self, show_id: int, user_id: int, count: int, wheelchair: int = 0) -> Reply:
        return await self._ask(show_id, BestAvailable(count, user_id, wheelchair, self._limits.max_seats_per_user))

    async def hold(self, show_id: int, user_id: int, seats: tuple[int, ...]) -> Reply:
        hold_id = uuid.uuid4().hex
        expires = time.time() + self._limits.hold_seconds
        return await self._ask(show_id, HoldSeats(seats, user_id, hold_id, expires, self._limits.max_seats_per_user))

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
        feed = self._feeds.get(show_id)
        if feed is not None:
            feed.unsubscribe(subscription)
            self._drop_feed_if_unused(show_id)
        subscription.close()

    async def seat_map(self, show_id: int) -> Snapshot:
        """The committed seat map, from memory once the show's actor is loaded."""
        self._check_elsewhere(show_id)
        actor = self._actor(show_id)
        if actor.feed is not None and actor.loaded:
            return actor.feed.snapshot()
        return await self._ask(show_id, Look())

    def committed_free_seats(self, show_id: int) -> int | None:
        """Free seats as the committed seat map counts them, when the show's actor is in memory; None rather than
        loading it."""
        actor = self._actors.get(show_id)
        if actor is None or actor.feed is None:
            return None
        feed = actor.feed
        return feed.total_seats - len(feed.booked) - len(feed.held) - len(feed.blocked)

    def free_seats(self, show: ShowInfo, taken: int) -> int:
        """Free seats as the seat map counts them (not booked, held or blocked): from the show's actor when it is
        in memory, so listings and the seat map agree; from `taken`, the database's count, otherwise."""
        free = self.committed_free_seats(show.id)
        if free is None:
            free = show.total_seats - taken
        return max(0, min(show.total_seats, free))

    def end_subscriptions(self) -> None:
        for feed in self._feeds.values():
            feed.close()

    def plan(self, show_id: int) -> ShowPlan:
        """The layout and prices of a loaded show (an empty plan when it is not loaded or has neither)."""
        actor = self._actors.get(show_id)
        return actor.plan if actor is not None else ShowPlan()

    def subscriber_counts(self) -> dict[int, int]:
        return {show_id: feed.subscribers for show_id, feed in self._feeds.items() if feed.subscribers}

    def mailbox_depths(self) -> dict[int, int]:
        return {show_id: actor.mailbox_depth for show_id, actor in self._actors.items()}

    @property
    def live_actors(self) -> int:
        return len(self._actors)

    async def close(self) -> None:
        """Stop taking messages and let every actor finish what it already holds."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for timer in self._wakeups.values():
            timer.cancel()
        self._wakeups.clear()
        actors = list(self._actors.values()) + list(self._ending.values())
        await asyncio.gather(*(actor.stop() for actor in actors))

    async def _ask(self, show_id: int, command: Message) -> Any:
        self._check_elsewhere(show_id)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._actor(show_id).tell(command, reply)
        try:
            return await reply
        except NotOwner as elsewhere:
            if len(self._elsewhere) >= MAX_REMEMBERED_OWNERS:
                self._elsewhere.clear()
            self._elsewhere[show_id] = (elsewhere.owner_url, time.monotonic() + OWNER_MEMORY_SECONDS)
            raise

    def _check_elsewhere(self, show_id: int) -> None:
        """Cluster mode: a show another node was seen deciding for goes there without asking the database."""
        known = self._elsewhere.get(show_id)
        if known is not None:
            if known[1] > time.monotonic():
                raise NotOwner(show_id, known[0])
            del self._elsewhere[show_id]

    def forget_owner(self, show_id: int) -> None:
        """The remembered owner did not answer: the next request asks the database (and may take the show)."""
        self._elsewhere.pop(show_id, None)

    def _actor(self, show_id: int) -> ShowActor:
        actor = self._actors.get(show_id)
        if actor is not None:
            return actor
        if self._closed:
            raise ShuttingDown()
        if len(self._actors) >= self._limits.max_actors:
            self._retire_idle()
        if self._sweeper is None and self._limits.user_recheck_seconds > 0:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_deleted_users(), name="user-sweep")
        previous = self._ending.get(show_id)
        actor = ShowActor(
            show_id,
            self._store,
            self._journal,
            self._limits.mailbox_size,
            self._open_feed,
            self._forget,
            after=previous.task if previous is not None else None,
            timing=self._limits.timing,
        )
        self._actors[show_id] = actor
        return actor

    def _retire_idle(self) -> None:
        """Retire half of the idle actors (at least one); Busy naming the limit when none is idle."""
        idle = [actor for actor in self._actors.values() if actor.idle]
        if not idle:
            raise Busy(f"the table of live shows ({self._limits.max_actors} busy shows)")
        for actor in idle[: max(1, len(idle) // 2)]:
            del self._actors[actor.show_id]
            self._ending[actor.show_id] = actor
            feed = self._feeds.get(actor.show_id)
            expiry = actor.next_expiry
            if expiry is not None and feed is not None and feed.subscribers:
                self._wake_at(actor.show_id, expiry)  # watchers still see held seats go at expiry
            actor.retire()

    def _forget(self, actor: ShowActor) -> None:
        show_id = actor.show_id
        if self._actors.get(show_id) is actor:
            del self._actors[show_id]
        if self._ending.get(show_id) is actor:
            del self._ending[show_id]
        self._drop_feed_if_unused(show_id)

    # --- feeds: they outlive actors, so watching a show never pins an actor ---------------------------------
    def _open_feed(self, snapshot: ShowSnapshot, state: SeatState) -> ShowFeed:
        """The show's feed, brought in line with what was just loaded (a reload publishes the differences)."""
        feed = self._feeds.get(snapshot.show.id)
        if feed is None:
            feed = ShowFeed(
                snapshot.show.id,
                snapshot.show.total_seats,
                state.holders,
                snapshot.journal_seq,
                state.held,
                state.blocked,
                tally=self._tally,
            )
            self._feeds[snapshot.show.id] = feed
        else:
            feed.resync(state.holders, state.held, state.blocked)
        return feed

    def _drop_feed_if_unused(self, show_id: int) -> None:
        feed = self._feeds.get(show_id)
        if feed is not None and feed.subscribers == 0 and show_id not in self._actors and show_id not in self._ending:
            del self._feeds[show_id]
            timer = self._wakeups.pop(show_id, None)
            if timer is not None:
                timer.cancel()

    def _wake_at(self, show_id: int, wall_time: float) -> None:
        loop = asyncio.get_running_loop()
        previous = self._wakeups.pop(show_id, None)
        if previous is not None:
            previous.cancel()
        delay = max(0.0, wall_time - time.time()) + 0.01
        self._wakeups[show_id] = loop.call_later(delay, self._wake_show, show_id)

    def _wake_show(self, show_id: int) -> None:
        """Load a retired show again so that its expired holds are released and published."""
        self._wakeups.pop(show_id, None)
        self._tell_quietly(show_id, Look())

    def _tell_quietly(self, show_id: int, command: Message) -> None:
        """A message nobody waits for; refusals (a full table, shutdown) are dropped: the next load catches up."""
        if self._closed:
            return
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        reply.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            self._actor(show_id).tell(command, reply)
        except (Busy, ShuttingDown):
            reply.cancel()

    # --- deleted users ------------------------------------------------------------------------------------------
    async def _sweep_deleted_users(self) -> None:
        """Every user_recheck_seconds: shows holding seats for users who no longer exist reload from disk,
        where those holds are gone (ON DELETE CASCADE), so the seats are free and watchers see them released."""
        while True:
            await asyncio.sleep(self._limits.user_recheck_seconds)
            holders = {show_id: actor.hold_users() for show_id, actor in self._actors.items()}
            users = set().union(*holders.values()) if holders else set()
            if not users:
                continue
            try:
                missing = await self._store.missing_users(sorted(users))
            except StorageUnavailable:
                continue
            for show_id, held_by in holders.items():
                if held_by & missing and show_id in self._actors:
                    self._tell_quietly(show_id, Reload())
