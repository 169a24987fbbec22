"""One seat's history, read back from the journal (storage/journal.py writes every change of every seat there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Booking, JournalEntry, User
from storage.repository import unavailable_as_storage_error

# The journal's op -> what happened to the seat, in a manager's words
KINDS = {
    "hold": "held",
    "release": "released",
    "expire": "expired",
    "confirm": "hold_confirmed",
    "book": "booked",
    "cancel": "cancelled",
    "block": "blocked",
    "unblock": "unblocked",
    "checkin": "checked_in",
}
STAFF_OPS = ("checkin", "block", "unblock")  # the journal's user is the staff member or admin who did it


@dataclass(frozen=True, slots=True)
class SeatChange:
    seq: int
    at: datetime
    kind: str
    user_id: int | None  # the customer whose seat it was
    username: str | None
    staff_id: int | None  # door staff (check-in) or the admin (blocks)
    order_id: int | None
    booking_id: int | None
    hold_id: str | None


class SeatHistory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @unavailable_as_storage_error
    async def of_seat(self, show_id: int, seat_number: int, limit: int = 1000) -> list[SeatChange]:
        """The seat's changes in commit order (the journal's seq), at most `limit` (the first ones)."""
        customer = func.coalesce(Booking.user_id, JournalEntry.user_id)
        query = (
            select(
                JournalEntry.seq,
                JournalEntry.at,
                JournalEntry.op,
                JournalEntry.user_id,
                JournalEntry.booking_id,
                JournalEntry.hold_id,
                Booking.user_id.label("holder"),
                func.coalesce(Booking.order_id, Booking.id).label("order_id"),
                User.username,
            )
            .outerjoin(Booking, Booking.id == JournalEntry.booking_id)
            .outerjoin(User, User.id == customer)
            .where(JournalEntry.show_id == show_id, JournalEntry.seat_number == seat_number)
            .order_by(JournalEntry.seq)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        changes = []
        for r in rows:
            staff = r.op in STAFF_OPS
            user = r.holder if r.op == "checkin" else None if staff else r.user_id
            changes.append(
                SeatChange(
                    r.seq,
                    r.at,
                    KINDS[r.op],
                    user,
                    r.username if user is not None else None,
                    r.user_id if staff else None,
                    r.order_id if r.booking_id is not None else None,
                    r.booking_id,
                    r.hold_id,
                )
            )
        return changes
