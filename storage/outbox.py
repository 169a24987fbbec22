"""The outbox: every change other systems hear about, stored in the transaction that made it.

The journal writer adds a batch's events as one more statement of the batch's own transaction
(`journal_events` says which), so a 201 that promised a booking also promised its `booking.created`.
Changes made outside the journal (a new show) call `emit` inside their own transaction.

Ids follow commit order, so a reader that has seen id N and asks for `id > N` never misses one committed
later with a smaller id: on SQLite the write lock does that, on PostgreSQL every writer takes OUTBOX_LOCK
(exclusive, held to its commit) just before its insert. Writers are the one journal task per node and the rare
admin change, so that lock is taken once per batch, not once per booking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.ports import BookRecord, CancelRecord, CheckInRecord, HoldEndRecord, HoldRecord, Record
from storage.models import OutboxEvent

EVENT_TYPES = (
    "booking.created",
    "booking.cancelled",
    "order.created",
    "order.cancelled",
    "order.refunded",
    "hold.created",
    "hold.expired",
    "checkin.created",
    "show.created",
    "show.cancelled",  # for cancelled shows, once the service cancels them
    "waitlist.offered",  # for the waiting list, once there is one
)
OUTBOX_LOCK = 0x6F7574626F78  # pg_advisory_xact_lock key ("outbox"): ids are handed out in commit order

Event = tuple[str, int | None, str, datetime]  # type, show id, data (JSON), when


def journal_events(records: Sequence[Record], ids: Sequence[int | None]) -> list[Event]:
    """The events of a batch's records, in record order (`ids`: the booking id each record made or changed).

    This runs inside every batch's commit: the records of one decision share one instant, so each instant is
    written out once (`stamps`), not once per field."""
    events: list[Event] = []
    stamps: dict[datetime, str] = {}

    def _iso(at: datetime) -> str:
        text = stamps.get(at)
        if text is None:
            text = stamps[at] = at.astimezone(UTC).isoformat()
        return text

    order: dict[str, Any] | None = None  # the order the last bookings belong to, emitted when it is complete
    dumps = orjson.dumps

    def close_order() -> None:
        nonlocal order
        if order is not None:
            events.append(("order.created", order["show"], dumps({"order": order["body"]}).decode(), order["at"]))
            order = None

    for record, booking_id in zip(records, ids, strict=True):
        show_id = record.show_id
        if isinstance(record, BookRecord):
            assert booking_id is not None
            if record.order_start or order is None:
                close_order()
                order = {
                    "show": show_id,
                    "at": record.at,
                    "body": {
                        "id": booking_id,
                        "user": record.user_id,
                        "status": "booked",
                        "created_at": _iso(record.at),
                        "booking_ids": [],
                        "seat_numbers": [],
                        "channel": "counter" if record.sale else "online",
                        "total": None,
                    },
                }
            body = order["body"]
            body["booking_ids"].append(booking_id)
            body["seat_numbers"].append(record.seat_number)
            booking = {
                "id": booking_id,
                "user": record.user_id,
                "seat_number": record.seat_number,
                "status": "booked",
                "created_at": _iso(record.at),
                "order": body["id"],
                "ticket_type": record.ticket_type,
                "price": record.price,
            }
            if record.price is not None:
                body["total"] = (body["total"] or 0) + record.price
            events.append(("booking.created", show_id, dumps({"booking": booking}).decode(), record.at))
            continue
        close_order()
        if isinstance(record, CancelRecord):
            booking = {
                "id": record.booking_id,
                "user": record.user_id,
                "seat_number": record.seat_number,
                "status": "cancelled",
                "cancelled_at": _iso(record.at),
                "order": record.order_id or record.booking_id,
            }
            events.append(("booking.cancelled", show_id, dumps({"booking": booking}).decode(), record.at))
            if record.ends_order:
                cancelled = {
                    "id": record.order_id or record.booking_id,
                    "user": record.user_id,
                    "status": "cancelled",
                    "cancelled_at": _iso(record.at),
                }
                events.append(("order.cancelled", show_id, dumps({"order": cancelled}).decode(), record.at))
            if record.refund is not None:
                note = record.refund
                refund = {
                    "order": note.order_id,
                    "seat_numbers": list(note.seats),
                    "amount": note.amount,
                    "currency": note.currency,
                    "method": note.method,
                    "refunded_at": _iso(record.at),
                }
                events.append(("order.refunded", show_id, dumps({"refund": refund}).decode(), record.at))
        elif isinstance(record, HoldRecord):
            hold = {
                "id": record.hold_id,
                "user": record.user_id,
                "seat_numbers": list(record.seats),
                "expires_at": _iso(record.expires_at),
                "created_at": _iso(record.at),
            }
            events.append(("hold.created", show_id, dumps({"hold": hold}).decode(), record.at))
        elif isinstance(record, HoldEndRecord) and record.status == "expired":
            hold = {
                "id": record.hold_id,
                "user": record.user_id,
                "seat_numbers": list(record.seats),
                "expired_at": _iso(record.at),
            }
            events.append(("hold.expired", show_id, dumps({"hold": hold}).decode(), record.at))
        elif isinstance(record, CheckInRecord):
            check_in = {
                "booking_id": record.booking_id,
                "seat_number": record.seat_number,
                "by": record.user_id,
                "at": _iso(record.at),
            }
            events.append(("checkin.created", show_id, dumps({"checkin": check_in}).decode(), record.at))
    close_order()
    return events


# The journal's statements: after its writes, in its transaction. Array order is id order.
SQLITE_INSERT = (
    "INSERT INTO outbox_events (type, show_id, data, created_at) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) ORDER BY key"
)
PG_LOCK = f"SELECT pg_advisory_xact_lock({OUTBOX_LOCK})"
PG_INSERT = (
    "INSERT INTO outbox_events (type, show_id, data, created_at) "
    "SELECT e.type, e.show_id, e.data, e.at FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[]) "
    "WITH ORDINALITY AS e(type, show_id, data, at, n) ORDER BY e.n"
)


async def emit(conn: AsyncConnection, type_: str, data: dict[str, Any], show_id: int | None) -> None:
    """Store one event in the caller's transaction (changes made outside the journal: a new show)."""
    assert type_ in EVENT_TYPES, type_
    if conn.dialect.name == "postgresql":
        await conn.execute(text(PG_LOCK))
    await conn.execute(
        OutboxEvent.__table__.insert(),
        {"type": type_, "show_id": show_id, "data": orjson.dumps(data).decode(), "created_at": datetime.now(UTC)},
    )


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    type: str
    show_id: int | None
    data: dict[str, Any]
    created_at: datetime


async def events_after(
    conn: AsyncConnection, after: int, limit: int, types: Sequence[str] | None = None
) -> list[StoredEvent]:
    """Events with an id above `after`, oldest first (of `types` only, when given)."""
    outbox = OutboxEvent.__table__
    query = select(outbox).where(outbox.c.id > after).order_by(outbox.c.id).limit(limit)
    if types is not None:
        query = query.where(outbox.c.type.in_(list(types)))
    return [stored_event(row) for row in (await conn.execute(query)).all()]


def stored_event(row: Any) -> StoredEvent:
    return StoredEvent(row.id, row.type, row.show_id, orjson.loads(row.data), row.created_at)


async def last_event_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.coalesce(func.max(OutboxEvent.id), 0)))).scalar_one())
