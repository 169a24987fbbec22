"""The waiting-list half of a show's actor: joining, leaving, and offering seats that come back.

engine/waitlist.py decides who gets which seats; this journals those decisions and publishes them once committed,
exactly as the actor does for its own (engine/actor.py). ShowActor mixes it in, so it shares the actor's mailbox,
state, journal, epoch and feed, and everything here runs inside the actor's serial decisions: the offer of seats
that came back is made in the very decision that gave them back, before the next message is looked at.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import Busy, ShowNotFound
from engine.feed import ShowFeed
from engine.ports import (
    HoldRecord,
    Journal,
    Record,
    ShowSnapshot,
    StorageUnavailable,
    UserGone,
    WaitlistJoinRecord,
    WaitlistLeaveRecord,
    WaitlistOfferRecord,
)
from engine.seats import ConfirmHold, ReleaseHold, SeatState
from engine.waitlist import (
    Entry,
    JoinWaitlist,
    OfferFreeSeats,
    Waitlist,
    WaitlistCommand,
    WaitlistOutcome,
    WaitlistReply,
    WaitlistRules,
    decide_join,
    decide_leave,
    join,
    offer_seats,
    restore,
)

log = logging.getLogger(__name__)
KNOWN_FAILURES = (StorageUnavailable, Busy, UserGone, ShowNotFound)


def _answer(reply: asyncio.Future[Any], result: Any) -> None:
    if not reply.done():
        reply.set_result(result)


def _refuse(reply: asyncio.Future[Any], error: Exception) -> None:
    if not reply.done():
        reply.set_exception(error if isinstance(error, KNOWN_FAILURES) else StorageUnavailable(str(error)))


class WaitlistDesk:
    """Mixed into ShowActor (which sets `_waitlist` and `_waitlist_rules` and calls these methods)."""

    _waitlist: Waitlist
    _waitlist_rules: WaitlistRules

    if TYPE_CHECKING:  # ShowActor's own, used here
        show_id: int
        feed: ShowFeed | None
        _state: SeatState | None
        _journal: Journal
        _epoch: int
        _pending: int
        _stopping: bool
        _mailbox: deque[tuple[Any, asyncio.Future[Any]]]

        def _settled(self) -> None: ...
        def _wake(self) -> None: ...
        def _schedule_expiry(self, hold_id: str, expires_at: float) -> None: ...
        def _handle(self, command: Any, reply: asyncio.Future[Any]) -> None: ...

    def _restore_waitlist(self, snapshot: ShowSnapshot, state: SeatState) -> None:
        entries = [Entry(e.id, e.user_id, e.party_size, e.together, e.number, e.hold_id) for e in snapshot.waitlist]
        self._waitlist = restore(entries, state.holds, snapshot.waitlist_next)

    def _decide_waitlist(self, command: WaitlistCommand, reply: asyncio.Future[Any]) -> None:
        state = self._state
        assert state is not None
        now = time.time()
        waitlist = self._waitlist
        if isinstance(command, OfferFreeSeats):
            self._offer_free_seats(state, now)
            _answer(reply, None)
            return
        if isinstance(command, JoinWaitlist):
            outcome = decide_join(waitlist, state, command, self._waitlist_rules, now)
            if outcome is not WaitlistOutcome.JOINED:
                _answer(reply, WaitlistReply(outcome))
                return
            if not self._journal.has_room(1):
                _refuse(reply, Busy("the journal queue"))
                return
            entry = join(waitlist, command)
            record = WaitlistJoinRecord(
                self.show_id,
                entry.id,
                entry.user_id,
                entry.party_size,
                entry.together,
                entry.number,
                datetime.now(UTC),
            )
            self._write_waitlist([record], reply, WaitlistReply(outcome, entry.id, len(waitlist.entries)))
            return
        outcome = decide_leave(waitlist, command)
        if outcome is not WaitlistOutcome.LEFT:
            _answer(reply, WaitlistReply(outcome))
            return
        entry = waitlist.entries[command.entry_id]
        if entry.hold_id is not None:  # leaving declines the offer: its release ends the entry, the seats pass on
            self._handle(ReleaseHold(entry.hold_id, command.user_id), reply)
            return
        if not self._journal.has_room(1):
            _refuse(reply, Busy("the journal queue"))
            return
        waitlist.remove(entry.id)
        leave = WaitlistLeaveRecord(self.show_id, entry.id, entry.user_id, datetime.now(UTC))
        self._write_waitlist([leave], reply, WaitlistReply(outcome, entry.id))

    def _write_waitlist(self, unit: Sequence[Record], reply: asyncio.Future[Any], answer: WaitlistReply) -> None:
        def committed(_ids: list[int | None]) -> None:
            self._settled()
            _answer(reply, answer)

        def failed(error: Exception) -> None:
            self._state = None  # what is on disk is the truth; reload before the next decision
            self._settled()
            _refuse(reply, error)

        self._pending += 1
        self._journal.append(unit, self._epoch, committed, failed)

    def _seats_changed(self, state: SeatState, command: object, available_before: int, now: float) -> None:
        """After the actor applied an accepted change: an offer hold that ended ends its entry (storage does the
        same in the hold end's transaction), and seats that came back are offered to the list."""
        if isinstance(command, ConfirmHold | ReleaseHold):
            self._waitlist.offer_ended(command.hold_id)
        if state.available > available_before:
            self._offer_free_seats(state, now)

    def _offer_free_seats(self, state: SeatState, now: float) -> None:
        waitlist, rules = self._waitlist, self._waitlist_rules
        if not waitlist.waiting or state.available == 0:
            return
        if not self._journal.has_room(2 * rules.lookahead):  # overloaded: the next change or load offers them
            return
        offers = offer_seats(waitlist, state, rules, now, lambda: uuid.uuid4().hex)
        if not offers:
            return
        at = datetime.now(UTC)
        unit: list[Record] = []
        for offer in offers:
            hold = offer.hold
            expires = datetime.fromtimestamp(hold.expires_at, UTC)
            unit.append(HoldRecord(self.show_id, hold.hold_id, hold.user_id, hold.seat_numbers, expires, at))
            unit.append(WaitlistOfferRecord(self.show_id, offer.entry.id, hold.user_id, hold.hold_id, at))
        feed = self.feed
        assert feed is not None

        def committed(_ids: list[int | None]) -> None:
            self._settled()
            live = state is self._state
            for record in unit:
                if isinstance(record, HoldRecord):
                    held = record
                    for seat in record.seats:
                        feed.publish("held", seat)
                    if live:
                        self._schedule_expiry(record.hold_id, record.expires_at.timestamp())
                elif isinstance(record, WaitlistOfferRecord):
                    feed.publish_offer(record.entry_id, held.seats, held.expires_at.isoformat())

        def failed(error: Exception) -> None:
            self._state = None
            self._settled()
            log.warning("show %d: offering seats to the waiting list failed: %s", self.show_id, error)
            if isinstance(error, UserGone) and not self._stopping:  # reload without them, offer again at once
                retry: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                retry.add_done_callback(lambda done: done.cancelled() or done.exception())
                self._mailbox.append((OfferFreeSeats(), retry))
                self._wake()

        self._pending += 1
        self._journal.append(unit, self._epoch, committed, failed)
