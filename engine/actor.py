"""One asyncio actor per show: the only code that changes a show's seats.

Messages are taken from a bounded mailbox and decided strictly one at a time, so two requests for one seat can
never interleave. An accepted change is applied in memory and handed to the journal; the caller's reply is
resolved only from the journal's commit callback. The actor does not wait for that commit before deciding the
next message: that is what lets the journal put many decisions into one transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.errors import Busy, ShowNotFound, ShuttingDown
from engine.feed import ShowFeed
from engine.ports import BookRecord, CancelRecord, Journal, ShowInfo, ShowStore, StorageUnavailable
from engine.seats import Book, Cancel, Command, Outcome, SeatState, apply, decide, record_booking_id, restore


@dataclass(frozen=True, slots=True)
class Booking:
    id: int
    show: ShowInfo
    user_id: int
    seat_number: int
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome
    booking_id: int | None = None
    booking: Booking | None = None  # set when the outcome is BOOKED


@dataclass(frozen=True, slots=True)
class Watch:
    """Subscribe to the show's committed changes, with what was missed since `since` (or a snapshot)."""

    since: int | None


@dataclass(frozen=True, slots=True)
class Look:
    """The committed seat map."""


Message = Command | Watch | Look
Reply_ = asyncio.Future[Any]
FAIR_SHARE = 256  # messages an actor decides before it yields to the event loop


def _resolve(reply: Reply_, result: Reply) -> None:
    if not reply.done():  # the caller may have gone away; the change stands regardless
        reply.set_result(result)


def _fail(reply: Reply_, error: Exception) -> None:
    if not reply.done():
        reply.set_exception(error)


class ShowActor:
    def __init__(
        self,
        show_id: int,
        store: ShowStore,
        journal: Journal,
        mailbox_size: int,
        on_exit: Callable[[ShowActor], None],
    ) -> None:
        assert mailbox_size >= 1
        self.show_id = show_id
        self._store = store
        self._journal = journal
        self._mailbox: deque[tuple[Message, Reply_]] = deque()
        self._mailbox_size = mailbox_size
        self._wakeup: asyncio.Future[None] | None = None
        self._on_exit = on_exit
        self._show: ShowInfo | None = None
        self._state: SeatState | None = None  # None: not loaded, or dropped after a failed commit
        self.feed: ShowFeed | None = None  # the committed view, kept across reloads
        self._pending = 0  # records handed to the journal and not yet committed or failed
        self._stopping = False
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"show-actor-{show_id}")

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing being committed, nobody watching: safe to retire."""
        return not self._mailbox and self._pending == 0 and (self.feed is None or self.feed.subscribers == 0)

    @property
    def mailbox_depth(self) -> int:
        return len(self._mailbox)

    def tell(self, command: Message, reply: Reply_) -> None:
        if self._stopping:
            raise ShuttingDown()
        if len(self._mailbox) >= self._mailbox_size:
            raise Busy(f"the mailbox of show {self.show_id}")
        self._mailbox.append((command, reply))
        self._wake()

    async def stop(self) -> None:
        """Finish every message already in the mailbox, then end."""
        self._stopping = True
        self._wake()
        await asyncio.shield(self.task)

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _run(self) -> None:
        mailbox = self._mailbox
        loop = asyncio.get_running_loop()
        in_a_row = 0
        try:
            while True:
                if not mailbox:
                    if self._stopping:
                        return
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    in_a_row = 0
                    continue
                if in_a_row >= FAIR_SHARE:  # let the journal and other actors run during a long burst
                    in_a_row = 0
                    await asyncio.sleep(0)
                    continue
                in_a_row += 1
                command, reply = mailbox.popleft()
                if reply.done():
                    continue
                if self._state is None:
                    loaded = await self._load(reply)
                    if loaded is None:
                        return
                    if not loaded:
                        continue
                if isinstance(command, Watch):
                    self._watch(command, reply)
                elif isinstance(command, Look):
                    _resolve(reply, self.feed.snapshot())  # type: ignore[union-attr]
                else:
                    self._handle(command, reply)
        finally:
            self._stopping = True
            if self.feed is not None:
                self.feed.close()
            while mailbox:
                _fail(mailbox.popleft()[1], ShowNotFound() if self._show is None else ShuttingDown())
            self._on_exit(self)

    async def _load(self, reply: Reply_) -> bool | None:
        """True when loaded, False when storage failed (retry on the next message), None when the show is gone."""
        assert self._pending == 0, "reloading while commits are in flight would lose them"
        try:
            snapshot = await self._store.load_show(self.show_id)
        except StorageUnavailable as error:
            _fail(reply, error)
            return False
        if snapshot is None:
            _fail(reply, ShowNotFound())
            return None
        self._show = snapshot.show
        self._state = restore(snapshot.show.total_seats, snapshot.bookings)
        booked = self._state.holders.keys()
        if self.feed is None:
            self.feed = ShowFeed(self.show_id, snapshot.show.total_seats, booked, snapshot.journal_seq)
        else:
            self.feed.resync(booked)
        return True

    def _watch(self, command: Watch, reply: Reply_) -> None:
        assert self.feed is not None
        try:
            subscribed = self.feed.subscribe(command.since)
        except Busy as error:
            _fail(reply, error)
            return
        if reply.done():  # the caller went away while waiting
            self.feed.unsubscribe(subscribed[1])
        else:
            reply.set_result(subscribed)

    def _handle(self, command: Command, reply: Reply_) -> None:
        state = self._state
        assert state is not None and self._show is not None
        outcome = decide(state, command)
        if not outcome.accepted:
            _resolve(reply, Reply(outcome, getattr(command, "booking_id", None)))
            return
        if not self._journal.has_room():
            _fail(reply, Busy("the journal queue"))
            return
        seat = apply(state, command)
        now = datetime.now(UTC)
        show = self._show
        feed = self.feed

        def committed(booking_id: int) -> None:
            self._pending -= 1
            assert state is self._state, "a committed record must belong to the live state"
            assert feed is not None
            if isinstance(command, Book):
                record_booking_id(state, seat, booking_id)
                feed.publish("booked", seat)
                booking = Booking(booking_id, show, command.user_id, seat, "booked", now)
                _resolve(reply, Reply(Outcome.BOOKED, booking_id, booking))
            else:
                feed.publish("cancelled", seat)
                _resolve(reply, Reply(Outcome.CANCELLED, booking_id))

        def failed(error: Exception) -> None:
            self._pending -= 1
            self._state = None  # what is on disk is the truth; reload before the next decision
            _fail(reply, error if isinstance(error, (StorageUnavailable, Busy)) else StorageUnavailable(str(error)))

        if isinstance(command, Book):
            record: BookRecord | CancelRecord = BookRecord(self.show_id, command.user_id, seat, now)
        else:
            assert isinstance(command, Cancel)
            record = CancelRecord(self.show_id, command.booking_id, command.user_id, seat, now)
        self._pending += 1
        self._journal.append(record, committed, failed)
