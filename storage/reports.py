"""The manager's figures, computed in SQL (aggregates over indexed rows; no booking is loaded into Python).

Revenue joins each booking to its seat's band (show_seat_bands: the category of a run of seats, and its adult
price for bookings from before prices were recorded per booking); a booking's own price (as sold, for its ticket
type) wins where it has one. The channel is `counter` for an order with a counter sale, `online` otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, and_, case, cast, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import BlockedSeat, Booking, CounterSale, Movie, SeatBand, SeatHold, Show
from storage.repository import unavailable_as_storage_error

PRICE = func.coalesce(Booking.price, SeatBand.amount)  # as sold; the band's for bookings of before
TICKET_TYPE = func.coalesce(Booking.ticket_type, literal_column("'adult'"))
CHANNEL = case((CounterSale.order_id.is_not(None), literal_column("'counter'")), else_=literal_column("'online'"))
BREAKDOWN = (SeatBand.category, TICKET_TYPE, CHANNEL, PRICE)  # the GROUP BY of revenue


@dataclass(frozen=True, slots=True)
class Line:
    category: str
    ticket_type: str
    channel: str
    price: int
    sold: int  # bookings made (live or cancelled since)
    refunded: int  # bookings cancelled: each cancel refunds its price
    gross: int
    refunds: int

    @property
    def net(self) -> int:
        return self.gross - self.refunds


@dataclass(frozen=True, slots=True)
class ShowReport:
    show_id: int
    title: str
    screen_name: str
    date_time: datetime
    ends_at: datetime | None
    currency: str | None
    capacity: int
    booked: int
    held: int
    blocked: int
    checked_in: int
    lines: list[Line]

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.booked - self.held - self.blocked)

    @property
    def no_shows(self) -> int | None:
        """Booked and never scanned, once the film has ended (before that nobody is a no-show yet)."""
        if self.ends_at is None or datetime.now(UTC) < self.ends_at:
            return None
        return self.booked - self.checked_in


class Reports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @unavailable_as_storage_error
    async def show(self, show_id: int) -> ShowReport | None:
        now = datetime.now(UTC)
        seats = SeatHold.seats if self._engine.dialect.name == "sqlite" else cast(SeatHold.seats, JSON)
        booked = select(func.count()).where(Booking.show_id == Show.id, Booking.status == "booked")
        figures = (
            select(
                Show.id,
                Movie.title,
                Show.screen_name,
                Show.date_time,
                Show.ends_at,
                Show.currency,
                Show.total_seats,
                booked.scalar_subquery().label("booked"),
                booked.where(Booking.checked_in_at.is_not(None)).scalar_subquery().label("checked_in"),
                select(func.coalesce(func.sum(func.json_array_length(seats)), 0))
                .where(SeatHold.show_id == Show.id, SeatHold.status == "active", SeatHold.expires_at > now)
                .scalar_subquery()
                .label("held"),
                select(func.count()).where(BlockedSeat.show_id == Show.id).scalar_subquery().label("blocked"),
            )
            .join(Movie, Movie.id == Show.movie_id)
            .where(Show.id == show_id)
        )
        cancelled = case((Booking.status == "cancelled", 1), else_=0)
        lines = (
            select(
                SeatBand.category,
                TICKET_TYPE.label("ticket_type"),
                CHANNEL.label("channel"),
                PRICE.label("price"),
                func.count().label("sold"),
                func.sum(cancelled).label("refunded"),
                func.sum(PRICE).label("gross"),
                func.sum(cancelled * PRICE).label("refunds"),
            )
            .select_from(Booking)
            .join(
                SeatBand,
                and_(
                    SeatBand.show_id == Booking.show_id,
                    Booking.seat_number >= SeatBand.first_seat,
                    Booking.seat_number <= SeatBand.last_seat,
                ),
            )
            .outerjoin(CounterSale, CounterSale.order_id == func.coalesce(Booking.order_id, Booking.id))
            .where(Booking.show_id == show_id)
            .group_by(*BREAKDOWN)
            .order_by(*BREAKDOWN)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(figures)).one_or_none()
            if row is None:
                return None
            found = (await conn.execute(lines)).all()
        return ShowReport(
            row.id,
            row.title,
            row.screen_name,
            row.date_time,
            row.ends_at,
            row.currency,
            row.total_seats,
            row.booked,
            int(row.held),
            row.blocked,
            row.checked_in,
            [
                Line(
                    r.category,
                    r.ticket_type,
                    r.channel,
                    int(r.price),
                    r.sold,
                    int(r.refunded),
                    int(r.gross),
                    int(r.refunds),
                )
                for r in found
            ],
        )


@dataclass(frozen=True, slots=True)
class Sales:
    sold: int
    refunded: int
    gross: int
    refunds: int

    @property
    def net(self) -> int:
        return self.gross - self.refunds


@dataclass(frozen=True, slots=True)
class ShowSales:
    show_id: int
    title: str
    screen_name: str
    date_time: datetime
    currency: str | None
    sales: Sales


BUCKET_SECONDS = 900  # every time zone's offset is a multiple of 15 minutes: buckets fold into local days exactly


def _sales_events(starts: datetime, ends: datetime) -> Any:
    """Every sale (a booking made) and refund (a booking cancelled) in [starts, ends), each by its own index."""
    one, zero = literal_column("1"), literal_column("0")
    return union_all(
        select(
            Booking.show_id,
            Booking.seat_number,
            Booking.price,
            Booking.created_at.label("at"),
            one.label("sold"),
            zero.label("refunded"),
        ).where(Booking.created_at >= starts, Booking.created_at < ends),
        select(
            Booking.show_id,
            Booking.seat_number,
            Booking.price,
            Booking.cancelled_at.label("at"),
            zero.label("sold"),
            one.label("refunded"),
        ).where(Booking.cancelled_at >= starts, Booking.cancelled_at < ends),
    ).subquery("events")


def _sums(events: Any) -> tuple[Any, ...]:
    return (
        func.sum(events.c.sold).label("sold"),
        func.sum(events.c.refunded).label("refunded"),
        func.sum(events.c.sold * func.coalesce(events.c.price, SeatBand.amount)).label("gross"),
        func.sum(events.c.refunded * func.coalesce(events.c.price, SeatBand.amount)).label("refunds"),
    )


def _band_of(events: Any) -> Any:
    return and_(
        SeatBand.show_id == events.c.show_id,
        events.c.seat_number >= SeatBand.first_seat,
        events.c.seat_number <= SeatBand.last_seat,
    )


def _sales(row: Any) -> Sales:
    return Sales(int(row.sold), int(row.refunded), int(row.gross), int(row.refunds))


@unavailable_as_storage_error
async def sales_between(
    engine: AsyncEngine, starts: datetime, ends: datetime
) -> tuple[list[ShowSales], list[tuple[int, str | None, Sales]]]:
    """Sales and refunds made in [starts, ends): per show, and per 15-minute bucket and currency (the caller
    folds buckets into the cinema's local days; at most 96 a day, never a row per booking)."""
    events = _sales_events(starts, ends)
    per_show = (
        select(events.c.show_id, *_sums(events))
        .select_from(events)
        .join(SeatBand, _band_of(events))
        .group_by(events.c.show_id)
        .subquery("per_show")
    )
    shows = (
        select(per_show, Movie.title, Show.screen_name, Show.date_time, Show.currency)
        .join(Show, Show.id == per_show.c.show_id)
        .join(Movie, Movie.id == Show.movie_id)
        .order_by(Show.date_time, Show.id)
    )
    if engine.dialect.name == "sqlite":
        bucket = cast(func.strftime("%s", events.c.at), Integer) / BUCKET_SECONDS
    else:
        bucket = cast(func.floor(func.extract("epoch", events.c.at) / BUCKET_SECONDS), BigInteger)
    buckets = (
        select(bucket.label("bucket"), Show.currency, *_sums(events))
        .select_from(events)
        .join(SeatBand, _band_of(events))
        .join(Show, Show.id == events.c.show_id)
        .group_by(bucket, Show.currency)
    )
    async with engine.connect() as conn:
        show_rows = (await conn.execute(shows)).all()
        bucket_rows = (await conn.execute(buckets)).all()
    return (
        [ShowSales(r.show_id, r.title, r.screen_name, r.date_time, r.currency, _sales(r)) for r in show_rows],
        [(int(r.bucket), r.currency, _sales(r)) for r in bucket_rows],
    )
