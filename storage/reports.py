"""The manager's figures, computed in SQL (aggregates over indexed rows; no booking is loaded into Python).

Revenue joins each booking to its seat's band (show_seat_bands: the category and price of a run of seats).
Every sale so far is online: CHANNEL is a constant in the select list. When bookings gain a `channel` (and a
`ticket_type`) column, put those columns into BREAKDOWN (the GROUP BY) and drop the constant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import JSON, and_, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import BlockedSeat, Booking, Movie, SeatBand, SeatHold, Show
from storage.repository import unavailable_as_storage_error

CHANNEL = literal_column("'online'")
BREAKDOWN = (SeatBand.category, SeatBand.amount)  # the GROUP BY of revenue; add channel / ticket_type here


@dataclass(frozen=True, slots=True)
class Line:
    category: str
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
                *BREAKDOWN,
                CHANNEL.label("channel"),
                func.count().label("sold"),
                func.sum(cancelled).label("refunded"),
                func.sum(SeatBand.amount).label("gross"),
                func.sum(cancelled * SeatBand.amount).label("refunds"),
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
            .where(Booking.show_id == show_id)
            .group_by(*BREAKDOWN)
            .order_by(SeatBand.category, SeatBand.amount)
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
                Line(r.category, r.channel, r.amount, r.sold, int(r.refunded), int(r.gross), int(r.refunds))
                for r in found
            ],
        )
