"""One asyncio actor per show: the only code that changes a show's seats.

Messages are taken from a bounded mailbox and decided strictly one at a time, so two requests for one seat can
never interleave. An accepted change is applied in memory and handed to the journal; the caller's reply is
resolved only from the journal's commit callback. The actor does not wait for that commit before deciding the
next message: that is what lets the journal put many decisions into one transaction.

One live actor per show id (the engine's table guarantees it; see BookingEngine), and the database fences
whatever slips past that: every load takes the show's next owner epoch, and the journal refuses a unit whose
epoch is no longer current. A refused or failed unit makes the actor drop its state; it reloads (taking a new
epoch) once its other commits in flight have settled, before its next decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.consistency import reconcile
from engine.errors import Busy, NotOwner, ShowInconsistent, ShowMoving, ShowNotFound, ShuttingDown
from engine.feed import ShowFeed
from engine.layout import DEFAULT_TICKET_TYPE, ShowPlan
from engine.ports import (
    BlockRecord,
    BookRecord,
    CancelRecord,
    CheckInRecord,
    CounterSale,
    HoldEndRecord,
    HoldRecord,
    Journal,
    Record,
    RefundNote,
    ShowInfo,
    ShowSnapshot,
    ShowStore,
    StorageUnavailable,
    UserGone,
)
from engine.seats import (
    Book,
    BookSeats,
    Cancel,
    CancelOrder,
    CheckIn,
    Command,
    ConfirmHold,
    Hold,
    HoldSeats,
    Outcome,
    RefundOrder,
    ReleaseHold,
    SeatState,
    SetBlocked,
    apply,
    best_available,
    best_group,
    decide,
    live_bookings_of_order,
    record_booking_id,
    record_order,
    restore,
    unavailable,
)
from engine.waitlist import DEFAULT_RULES, Waitlist, WaitlistCommand, WaitlistRules
from engine.waitlist_desk import WaitlistDesk


@dataclass(frozen=True, slots=True)
class Booking:
    id: int
    show: ShowInfo
    user_id: int
    seat_number: int
    status: str
    created_at: datetime
    order_id: int = 0
    ticket_type: str = DEFAULT_TICKET_TYPE
    price: int | None = None  # minor units, as sold; None when the show has no prices


@dataclass(frozen=True, slots=True)
class Timing:
    """The show's time rules, relative to its start (seconds)."""

    cancel_cutoff: float = 0.0  # cancelling closes this long before the start
    check_in_opens: float = 3600.0  # the door opens this long before the start


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome
    booking_id: int | None = None
    booking: Booking | None = None  # the first (for the seed's single seat: the) booking made
    seats: tuple[int, ...] = ()  # the seats changed, or for a refusal the seats that were not free
    bookings: tuple[Booking, ...] = ()
    hold: HoldRecord | None = None
    checked_in_at: float | None = None  # for a check-in: when the ticket was (first) scanned
    user_id: int | None = None  # for a check-in: the ticket's holder
    refund: RefundNote | None = None  # for a refund: the seats and what was paid back
    unpriced: tuple[str, str] | None = None  # for unknown_ticket_type: (ticket type, seat category)


@dataclass(frozen=True, slots=True)
class BestAvailable:
    """`count` adjacent free seats in one row, nearest the middle, booked at once."""

    count: int
    user_id: int
    wheelchair: int = 0
    seat_limit: int = 0  # engine/seats.py
    ticket_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sell:
    """A box-office sale: `seat_numbers`, or else the best `count` adjacent seats, booked uncapped for the staff
    user who sells them, with the sale's details written in the same unit as the bookings."""

    seat_numbers: tuple[int, ...]
    count: int
    sale: CounterSale
    ticket_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Watch:
    """Subscribe to the show's committed changes, with what was missed since `since` (or a snapshot)."""

    since: int | None


@dataclass(frozen=True, slots=True)
class Look:
    """The committed seat map."""


@dataclass(frozen=True, slots=True)
class Reload:
    """Drop the in-memory state and read the show again (the database changed under the actor)."""


Message = Command | BestAvailable | Sell | Watch | Look | Reload | WaitlistCommand
Priced = tuple[tuple[int, ...], tuple[str, ...], tuple[int | None, ...]]  # seats, their ticket types and prices
Reply_ = asyncio.Future[Any]
FeedOpener = Callable[[ShowSnapshot, SeatState], ShowFeed]
FAIR_SHARE = 256  # messages an actor decides before it yields to the event loop
log = logging.getLogger(__name__)


def _resolve(reply: Reply_, result: Reply) -> None:
    if not reply.done():  # the caller may have gone away; the change stands regardless
        reply.set_result(result)


def _fail(reply: Reply_, error: Exception) -> None:
    if not reply.done():
        reply.set_exception(error)


class ShowActor(WaitlistDesk):
    def __init__(
        self,
        show_id: int,
        store: ShowStore,
        journal: Journal,
        mailbox_size: int,
        open_feed: FeedOpener,
        on_exit: Callable[[ShowActor], None],
        after: asyncio.Task[None] | None = None,
        timing: Timing = Timing(),
        waitlist: WaitlistRules = DEFAULT_RULES,
    ) -> None:
        """`after`: the task of this show's previous actor, which must have ended before this one loads."""
        assert mailbox_size >= 1
        self.show_id = show_id
        self._store = store
        self._journal = journal
        self._mailbox: deque[tuple[Message, Reply_]] = deque()
        self._mailbox_size = mailbox_size
        self._wakeup: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None  # set when the last commit in flight settles
        self._open_feed = open_feed
        self._on_exit = on_exit
        self._after = after
        self._show: ShowInfo | None = None
        self._state: SeatState | None = None  # None: not loaded, or dropped after a failed commit
        self._epoch = 0  # the owner epoch of the last load; every unit carries it to the journal's fence
        self.feed: ShowFeed | None = None  # the committed view; it outlives the actor (the engine keeps it)
        self._timing = timing
        self._waitlist_rules, self._waitlist = waitlist, Waitlist()  # engine/waitlist_desk.py
        self.plan = ShowPlan()  # the layout and prices, once loaded
        self._paid: dict[int, int] = {}  # live booking id -> the price it was sold for (what a refund pays back)
        self._expiry_timers: dict[str, asyncio.TimerHandle] = {}
        self._pending = 0  # units handed to the journal and not yet committed or failed
        self._reported: list[str] = []  # the contradictions last logged (engine/consistency.py)
        self._stopping = False
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"show-actor-{show_id}")

    @property
    def idle(self) -> bool:
        """Parked on an empty mailbox (so not loading, not deciding) with no commit in flight: safe to retire.

        Subscribers do not count: the feed outlives the actor."""
        parked = self._wakeup is not None and not self._wakeup.done()
        return parked and not self._mailbox and self._pending == 0 and not self._stopping

    @property
    def loaded(self) -> bool:
        """The state is in memory (not yet loaded, or dropped after a refused commit, otherwise)."""
        return self._state is not None

    @property
    def next_expiry(self) -> float | None:
        """Wall time of the earliest live hold's expiry, if the show has live holds."""
        state = self._state
        if state is None or not state.holds:
            return None
        return min(hold.expires_at for hold in state.holds.values())

    def hold_users(self) -> set[int]:
        state = self._state
        return {hold.user_id for hold in state.holds.values()} if state is not None else set()

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

    def retire(self) -> None:
        """End an idle actor: it holds no message and no commit, so nothing accepted can be dropped."""
        assert self.idle, "only a parked actor with nothing in flight may be retired"
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _run(self) -> None:
        mailbox = self._mailbox
        loop = asyncio.get_running_loop()
        in_a_row = 0
        reply: Reply_ | None = None
        try:
            if self._after is not None:  # one live actor per show: the previous one must have ended
                await asyncio.wait([self._after])
                self._after = None
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
                if isinstance(command, Reload):
                    self._state = None
                if self._state is None:
                    loaded = await self._load(reply)
                    if loaded is None:
                        return
                    if not loaded:
                        continue
                try:
                    if isinstance(command, Watch):
                        self._watch(command, reply)
                    elif isinstance(command, Look | Reload):
                        _resolve(reply, self.feed.snapshot())  # type: ignore[union-attr]
                    elif isinstance(command, WaitlistCommand):
                        self._decide_waitlist(command, reply)
                    else:
                        self._handle(command, reply)
                except Exception as error:  # a bug must answer its caller and cost a reload, not the actor
                    log.exception("show %d: deciding %r failed", self.show_id, command)
                    _fail(reply, error)
                    self._state = None
                reply = None
        finally:
            self._stopping = True
            if reply is not None:  # the message in hand when the actor ended (cancelled, or a load bug)
                _fail(reply, ShuttingDown())
            for hold_id in list(self._expiry_timers):
                self._unschedule_expiry(hold_id)
            while mailbox:
                _fail(mailbox.popleft()[1], ShowNotFound() if self._show is None else ShuttingDown())
            self._on_exit(self)

    async def _load(self, reply: Reply_) -> bool | None:
        """True when loaded, False when storage failed (retry on the next message), None when the show is gone
        (or, in cluster mode, decided by another node)."""
        while self._pending:  # commits still in flight settle first: a reload must see them on disk
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        try:
            snapshot = await self._store.load_show(self.show_id)
        except StorageUnavailable as error:  # what waits behind would wait as long again: refuse it too
            _fail(reply, error)
            while self._mailbox:
                _fail(self._mailbox.popleft()[1], error)
            return False
        except (NotOwner, ShowMoving) as error:  # cluster mode: another node decides; this actor ends
            _fail(reply, error)
            while self._mailbox:
                _fail(self._mailbox.popleft()[1], error)
            return None
        if snapshot is None:
            _fail(reply, ShowNotFound())
            return None
        assert self._pending == 0, "reloading while commits are in flight would lose them"
        verdict = reconcile(
            self.show_id,
            snapshot.show.total_seats,
            snapshot.bookings,
            snapshot.holds,
            snapshot.blocked,
            snapshot.decision_order,
        )
        if verdict.problems and verdict.problems != self._reported:  # a refused show reloads per message
            self._reported = verdict.problems
            fields = {"show": self.show_id, "problems": verdict.problems[:20], "refused": verdict.refused is not None}
            log.warning("show %d: its stored state contradicts itself", self.show_id, extra={"fields": fields})
        if verdict.refused is not None:  # nothing is decided on it: every message gets the same 503
            error: Exception = ShowInconsistent(self.show_id, verdict.refused)
            _fail(reply, error)
            while self._mailbox:
                _fail(self._mailbox.popleft()[1], error)
            return False
        if verdict.voided_holds:
            try:
                await self._store.void_holds(self.show_id, verdict.voided_holds, snapshot.epoch)
            except StorageUnavailable as error:
                _fail(reply, error)
                while self._mailbox:
                    _fail(self._mailbox.popleft()[1], error)
                return False
        self._show = snapshot.show
        self._epoch = snapshot.epoch
        holds = [(h.id, Hold(h.user_id, h.seats, h.expires_at.timestamp(), h.ticket_types)) for h in verdict.holds]
        self._state = state = restore(
            snapshot.show.total_seats,
            snapshot.bookings,
            holds,
            verdict.blocked,
            layout=snapshot.layout,
            orders=snapshot.orders,
            checked_in=[(booking_id, at.timestamp()) for booking_id, at in snapshot.checked_in],
        )
        starts_at = snapshot.show.date_time.timestamp()
        state.starts_at = starts_at
        state.cancel_until = starts_at - self._timing.cancel_cutoff
        state.check_in_from = starts_at - self._timing.check_in_opens
        if snapshot.ends_at is not None:
            state.check_in_until = snapshot.ends_at.timestamp()
        self.plan = ShowPlan(snapshot.layout, snapshot.prices)
        self._paid = dict(snapshot.prices_paid)
        self.feed = self._open_feed(snapshot, state)
        for hold_id in list(self._expiry_timers):
            self._unschedule_expiry(hold_id)
        self._restore_waitlist(snapshot, state)
        now = time.time()
        for hold_id, hold in holds:
            if hold.expires_at <= now:  # expired while no actor ran: released before the first decision
                self._handle(ReleaseHold(hold_id, None), asyncio.get_running_loop().create_future())
            if hold_id in state.holds:  # not released (the journal was full): its timer retries at once
                self._schedule_expiry(hold_id, hold.expires_at)
        self._offer_free_seats(state, now)  # seats free while entries wait (an offer that failed, say)
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

    def _handle(self, command: Command | BestAvailable | Sell, reply: Reply_) -> None:
        state = self._state
        assert state is not None and self._show is not None
        now_ts = time.time()
        sale: CounterSale | None = None
        if isinstance(command, Sell):
            sale = command.sale
            if not command.seat_numbers:  # a group may fill several rows (engine/seats.py best_group)
                if now_ts >= state.starts_at:
                    _resolve(reply, Reply(Outcome.SHOW_STARTED))
                    return
                group = best_group(state, command.count)
                if group is None:
                    _resolve(reply, Reply(Outcome.NO_ADJACENT_SEATS))
                    return
                command = Sell(group, 0, sale, command.ticket_types)
            command = BookSeats(command.seat_numbers, sale.sold_by, 0, command.ticket_types)
        if isinstance(command, BestAvailable):
            if now_ts >= state.starts_at:
                _resolve(reply, Reply(Outcome.SHOW_STARTED))
                return
            seats = best_available(state, command.count, command.wheelchair)
            if seats is None:
                _resolve(reply, Reply(Outcome.NO_ADJACENT_SEATS))
                return
            command = BookSeats(seats, command.user_id, command.seat_limit, command.ticket_types)
        outcome = decide(state, command, now_ts)
        if not outcome.accepted:
            _resolve(reply, self._refusal(state, command, outcome))
            return
        priced = self._priced(state, command, sale)
        if isinstance(priced, Reply):
            _resolve(reply, priced)
            return
        now = datetime.now(UTC)
        unit = self._records(state, command, now, priced, sale)
        if not self._journal.has_room(len(unit)):
            _fail(reply, Busy("the journal queue"))
            return
        available_before = state.available
        seats = apply(state, command)
        show = self._show
        feed = self.feed
        assert feed is not None

        def committed(ids: list[int | None]) -> None:
            self._settled()
            live = state is self._state  # False once the state was dropped; the reload reads this from disk
            booked_ids = tuple(i for r, i in zip(unit, ids, strict=True) if isinstance(r, BookRecord) and i)
            order_id = booked_ids[0] if booked_ids else 0  # an order is named by its first booking
            if live and booked_ids:
                record_order(state, booked_ids)
            bookings = []
            for record, booking_id in zip(unit, ids, strict=True):
                if isinstance(record, BookRecord):
                    assert booking_id is not None
                    if live:
                        record_booking_id(state, record.seat_number, booking_id)
                        if record.price is not None:
                            self._paid[booking_id] = record.price
                    feed.publish("booked", record.seat_number)
                    bookings.append(
                        Booking(
                            booking_id,
                            show,
                            record.user_id,
                            record.seat_number,
                            "booked",
                            now,
                            order_id,
                            record.ticket_type,
                            record.price,
                        )
                    )
                elif isinstance(record, CheckInRecord):
                    pass  # the seat stays booked; nothing changes on the seat map
                elif isinstance(record, CancelRecord):
                    if live:
                        self._paid.pop(record.booking_id, None)
                    feed.publish("cancelled", record.seat_number)
                elif isinstance(record, HoldRecord):
                    for seat in record.seats:
                        feed.publish("held", seat)
                    if live:
                        self._schedule_expiry(record.hold_id, record.expires_at.timestamp())
                elif isinstance(record, HoldEndRecord):
                    self._unschedule_expiry(record.hold_id)
                    if record.status != "confirmed":  # a confirmed hold's seats are published as booked
                        for seat in record.seats:
                            feed.publish("released", seat)
                else:
                    for seat in record.seats:
                        feed.publish("blocked" if record.blocked else "unblocked", seat)
            booking_id = ids[0] if isinstance(command, Book | Cancel | CheckIn) else None
            hold = unit[0] if isinstance(unit[0], HoldRecord) else None
            first = bookings[0] if bookings else None
            if isinstance(command, CheckIn):
                holder = state.holders[seats[0]]
                _resolve(reply, Reply(outcome, booking_id, None, seats, checked_in_at=command.now, user_id=holder))
                return
            if isinstance(command, RefundOrder):
                first_cancel = unit[0]
                assert isinstance(first_cancel, CancelRecord)
                _resolve(reply, Reply(outcome, None, None, seats, refund=first_cancel.refund))
                return
            _resolve(reply, Reply(outcome, booking_id, first, seats, tuple(bookings), hold))

        def failed(error: Exception) -> None:
            self._state = None  # what is on disk is the truth; reload before the next decision
            self._settled()
            known = (StorageUnavailable, Busy, UserGone, ShowNotFound)
            _fail(reply, error if isinstance(error, known) else StorageUnavailable(str(error)))

        self._pending += 1
        self._journal.append(unit, self._epoch, committed, failed)
        self._seats_changed(state, command, available_before, now_ts)  # the waiting list's turn, same decision

    def _settled(self) -> None:
        self._pending -= 1
        assert self._pending >= 0
        if self._pending == 0 and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _priced(self, state: SeatState, command: Command, sale: CounterSale | None) -> Priced | Reply | None:
        """Each seat's ticket type and price for a command that books or holds seats (None for the others), or
        the refusal when the types do not match the seats or the show does not sell one of them there."""
        if isinstance(command, Book):
            seats: tuple[int, ...] = (command.seat_number,)
            types: tuple[str, ...] = (command.ticket_type,)
        elif isinstance(command, BookSeats | HoldSeats):
            seats = command.seat_numbers
            types = command.ticket_types or (DEFAULT_TICKET_TYPE,) * len(seats)
        elif isinstance(command, ConfirmHold):
            hold = state.holds[command.hold_id]
            seats = hold.seats
            types = command.ticket_types or hold.ticket_types or (DEFAULT_TICKET_TYPE,) * len(seats)
        else:
            return None
        if len(types) != len(seats):
            return Reply(Outcome.TICKET_TYPES_MISMATCH, seats=seats)
        missing = self.plan.unpriced(seats, types)
        if missing is not None:
            return Reply(Outcome.UNKNOWN_TICKET_TYPE, seats=seats, unpriced=missing)
        amounts = self.plan.amounts(seats, types)
        if sale is not None and sale.payment == "complimentary":
            amounts = tuple(None if amount is None else 0 for amount in amounts)
        return seats, types, amounts

    def _paid_for(self, booking_id: int, seat: int) -> int:
        """What a live booking was sold for; bookings from before prices were recorded paid the adult price."""
        paid = self._paid.get(booking_id)
        if paid is None and self.plan.prices is not None:
            paid = self.plan.prices.amount(self.plan.category(seat))
        return paid or 0

    def _records(
        self, state: SeatState, command: Command, now: datetime, priced: Priced | None, sale: CounterSale | None
    ) -> list[Record]:
        show_id = self.show_id
        if isinstance(command, Book):
            assert priced is not None
            return [BookRecord(show_id, command.user_id, command.seat_number, now, True, priced[1][0], priced[2][0])]
        if isinstance(command, BookSeats):
            assert priced is not None
            _, types, amounts = priced
            return [
                BookRecord(show_id, command.user_id, seat, now, i == 0, types[i], amounts[i], sale if i == 0 else None)
                for i, seat in enumerate(command.seat_numbers)
            ]
        if isinstance(command, RefundOrder):
            live = live_bookings_of_order(state, command.order_id)
            seats = tuple(state.booked[b] for b in live)
            prices = self.plan.prices
            note = RefundNote(
                command.order_id,
                seats,
                sum(self._paid_for(b, state.booked[b]) for b in live),
                prices.currency if prices is not None else None,
                command.method,
            )
            return [
                CancelRecord(
                    show_id,
                    b,
                    command.by_user,
                    state.booked[b],
                    now,
                    order_id=command.order_id,
                    ends_order=i == len(live) - 1,
                    refund=note if i == 0 else None,
                )
                for i, b in enumerate(live)
            ]
        if isinstance(command, Cancel):
            seat = state.booked[command.booking_id]
            order_id = state.order(command.booking_id)
            last = live_bookings_of_order(state, order_id) == [command.booking_id]
            return [CancelRecord(show_id, command.booking_id, command.user_id, seat, now, order_id, last)]
        if isinstance(command, CancelOrder):
            live = live_bookings_of_order(state, command.order_id)
            return [
                CancelRecord(show_id, b, command.user_id, state.booked[b], now, command.order_id, i == len(live) - 1)
                for i, b in enumerate(live)
            ]
        if isinstance(command, CheckIn):
            seat = state.booked[command.booking_id]
            # the scan's own instant, so that what is stored is what the first answer and every later one say
            at = datetime.fromtimestamp(command.now, UTC)
            return [CheckInRecord(show_id, command.booking_id, command.by_user, seat, at)]
        if isinstance(command, HoldSeats):
            assert priced is not None
            expires = datetime.fromtimestamp(command.expires_at, UTC)
            seats = command.seat_numbers
            return [HoldRecord(show_id, command.hold_id, command.user_id, seats, expires, now, priced[1])]
        if isinstance(command, ConfirmHold | ReleaseHold):
            hold = state.holds[command.hold_id]
            status = "confirmed" if isinstance(command, ConfirmHold) else "released" if command.user_id else "expired"
            end: list[Record] = [HoldEndRecord(show_id, command.hold_id, hold.user_id, hold.seats, status, now)]
            if isinstance(command, ConfirmHold):
                assert priced is not None
                _, types, amounts = priced
                end += [
                    BookRecord(show_id, hold.user_id, seat, now, i == 0, types[i], amounts[i])
                    for i, seat in enumerate(hold.seats)
                ]
            return end
        assert isinstance(command, SetBlocked)
        return [BlockRecord(show_id, command.by_user, command.seat_numbers, command.blocked, now)]

    @staticmethod
    def _refusal(state: SeatState, command: Command, outcome: Outcome) -> Reply:
        seats: tuple[int, ...] = ()
        if isinstance(command, BookSeats | HoldSeats | SetBlocked):
            seats = tuple(unavailable(state, command.seat_numbers))
            if outcome is Outcome.COMPANION_NEEDS_WHEELCHAIR:
                seats = tuple(s for s in command.seat_numbers if s in state.companions)
        elif isinstance(command, Book):
            seats = (command.seat_number,)
        if outcome is Outcome.ALREADY_CHECKED_IN:
            assert isinstance(command, CheckIn)
            seat = state.booked[command.booking_id]
            at = state.checked_in[command.booking_id]
            return Reply(outcome, command.booking_id, seats=(seat,), checked_in_at=at, user_id=state.holders[seat])
        return Reply(outcome, getattr(command, "booking_id", None), seats=seats)

    # --- hold expiry: the actor's own timers, measured against wall time so that they survive restarts ------
    def _schedule_expiry(self, hold_id: str, expires_at: float) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, expires_at - time.time())
        self._expiry_timers[hold_id] = loop.call_at(loop.time() + delay, self._expire, hold_id)

    def _unschedule_expiry(self, hold_id: str) -> None:
        timer = self._expiry_timers.pop(hold_id, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, hold_id: str) -> None:
        self._expiry_timers.pop(hold_id, None)
        if self._stopping:
            return
        # Internal messages bypass the mailbox bound: a full mailbox must not keep seats held forever.
        self._mailbox.append((ReleaseHold(hold_id, None), asyncio.get_running_loop().create_future()))
        self._wake()
