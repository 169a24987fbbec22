"""The tables. Bookings are written only by the journal writer; everything else by ordinary transactions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so it gets naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert value.tzinfo is not None, "naive datetimes are ambiguous"
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


USERNAME_KEY_LENGTH = 600  # NFKC may lengthen a 150-character name; longer keys are refused at sign-up
JOURNAL_OPS = ("book", "cancel", "hold", "confirm", "release", "expire", "block", "unblock", "checkin")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    # NFKC + case folding of the username (storage/usernames.py): `Alice` and `alice`, `ﬁle` and `file`, are one
    username_key: Mapped[str] = mapped_column(
        String(USERNAME_KEY_LENGTH), unique=True, index=True, server_default=text("''")
    )
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(128))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))  # door check-in
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Bumped by every password change; tokens carry the number they were issued under (web/security/auth.py).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class Movie(Base):
    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("duration_minutes > 0", name="duration_positive"),)


class Screen(Base):
    """A hall with its reusable seat layout; shows created on it copy the layout."""

    __tablename__ = "screens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    layout: Mapped[str] = mapped_column(Text)  # JSON {"rows": [{"label", "positions": [null | [label, cat, kind]]}]}
    total_seats: Mapped[int] = mapped_column(Integer)
    # Bumped by every show scheduled on the screen: the row lock that serialises two admins' schedule checks.
    schedule_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("total_seats > 0", name="total_seats_positive"),)


class Show(Base):
    __tablename__ = "shows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    screen_name: Mapped[str] = mapped_column(String(100))
    date_time: Mapped[datetime] = mapped_column(UTCDateTime)
    total_seats: Mapped[int] = mapped_column(Integer)
    # JSON: [[row label, seats], ...] for plain rows, or a screen's layout (see engine/layout.py)
    layout: Mapped[str | None] = mapped_column(Text, nullable=True)
    screen_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # screens.id (see migration 0006)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # start + the film's duration
    prices: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON {category: minor units}
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    # Called off (POST /shows/{id}/cancel/): written by the journal in the same transaction as its cancels.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancelled_by: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        CheckConstraint("total_seats > 0", name="total_seats_positive"),
        Index("ix_shows_screen_id_date_time", "screen_id", "date_time"),
        Index("ix_shows_date_time", "date_time"),
    )


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    seat_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The order: the first booking id of the unit it was committed in (itself for a single seat).
    order_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_in_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ticket_type: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: before ticket types (adult)
    price: Mapped[int | None] = mapped_column(Integer, nullable=True)  # minor units, as sold (migration 0011)

    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="status_known"),
        CheckConstraint("seat_number > 0", name="seat_positive"),
        Index("ix_bookings_created_at", "created_at"),  # the sales report's range of sales
        Index("ix_bookings_cancelled_at", "cancelled_at"),  # ... and of refunds
        # The last line of defence behind the actors: one live booking per seat.
        Index(
            "uq_bookings_live_seat",
            "show_id",
            "seat_number",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
    )


class JournalEntry(Base):
    """Append-only write-ahead record of every seat change, in commit order."""

    __tablename__ = "seat_journal"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), nullable=True)
    hold_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    op: Mapped[str] = mapped_column(String(16))
    seat_number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(f"op IN ({', '.join(repr(op) for op in JOURNAL_OPS)})", name="op_known"),
        Index("ix_seat_journal_show_seat", "show_id", "seat_number", "seq"),  # one seat's history
    )


class SeatBand(Base):
    """Consecutive seats of a show with one category and price (engine/bands.py): what the reports join a
    booking's seat number to, so revenue is summed in SQL."""

    __tablename__ = "show_seat_bands"

    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True)
    first_seat: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seat: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Integer)  # minor units of the show's currency; 0 when unpriced


class SeatHold(Base):
    """Seats kept for a customer until `expires_at` (wall clock), then freed by the show's own timer."""

    __tablename__ = "holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    seats: Mapped[str] = mapped_column(Text)  # JSON list of seat numbers
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ticket_types: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list, one per seat; None: all adult

    __table_args__ = (
        CheckConstraint("status IN ('active', 'confirmed', 'released', 'expired')", name="status_known"),
        Index("ix_holds_show_status", "show_id", "status"),
    )


class BlockedSeat(Base):
    __tablename__ = "blocked_seats"

    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True)
    seat_number: Mapped[int] = mapped_column(Integer, primary_key=True)


class ShowOwner(Base):
    """The fence of a show's one decider: the owner epoch its current actor loaded with.

    Every load takes the next epoch; every journal batch checks, in its own transaction, that the shows it
    writes still carry its actors' epochs, so a stale actor (of this process or another) can never commit.
    A lease row per show: `owner` names the process, and `expires_at` is left for leases across nodes."""

    __tablename__ = "show_owners"

    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(String(200), index=True)  # a node's leases: renewed, released, listed
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyKey(Base):
    """The first answer to a request sent with an Idempotency-Key, replayed for retries for 24 hours."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None while the first is running
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RefreshToken(Base):
    """Every refresh token issued: one use each. Reusing a spent one revokes its whole family (the login it
    descends from), since either the thief or the user holds a copy."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the token's `jti`
    family: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class ClusterNode(Base):
    """A `cinema serve` node in cluster mode; alive while its heartbeat keeps `expires_at` ahead of the
    database clock (the one clock every node shares)."""

    __tablename__ = "cluster_nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(255))  # how the other nodes reach this one
    # HMAC-SHA256 of fixed labels under the cluster and JWT secrets: a node started with other secrets than
    # the live nodes' is refused, without any secret being stored.
    secret_check: Mapped[str] = mapped_column(String(64))
    jwt_check: Mapped[str] = mapped_column(String(64))
    lease_seconds: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OutboxEvent(Base):
    """What other systems are told (webhooks, GET /events/), written in the transaction that made the change.

    Ids never repeat (AUTOINCREMENT on SQLite, a sequence on PostgreSQL) and follow commit order (see
    storage/outbox.py), so `after=<id>` is a cursor that misses nothing. `data` holds the change's facts as JSON;
    web/hooks/payload.py adds the show's details when the event is read."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    show_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = ({"sqlite_autoincrement": True},)


class Webhook(Base):
    """A receiver of events. `cursor`: the last outbox id already queued for it. `lease_owner`/`lease_until`
    (unix seconds of the database clock): the one process that delivers its events, as show_owners is for shows."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(Text)  # JSON list of event types
    description: Mapped[str] = mapped_column(String(500), default="", server_default=text("''"))
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)


class WebhookDelivery(Base):
    """One event owed to one hook: pending until a 2xx answer (delivered) or the retry window ends (failed)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger)
    show_key: Mapped[int] = mapped_column(Integer)  # the event's show, 0 for none: order is kept per show
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_at: Mapped[float] = mapped_column(Float)  # unix seconds: when the next attempt is due
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state_known"),
        Index("uq_webhook_deliveries_hook_event", "hook_id", "event_id", unique=True),
        Index("ix_webhook_deliveries_due", "hook_id", "state", "show_key", "event_id"),
    )


class WebhookAttempt(Base):
    """Each try of a delivery, as GET /webhooks/{id}/deliveries/ lists them."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_webhook_attempts_hook_id_id", "hook_id", "id"),)


PAYMENTS = ("cash", "card", "complimentary")


class CounterSale(Base):
    """A box-office order: written by the journal in the same transaction as its bookings. A walk-in has no
    account, so the bookings belong to the staff user who sold them (`sold_by`); the customer is recorded here."""

    __tablename__ = "counter_sales"

    order_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    sold_by: Mapped[int] = mapped_column(Integer)  # the staff user (no foreign key: the sale outlives the account)
    payment: Mapped[str] = mapped_column(String(16))
    customer_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint(f"payment IN ({', '.join(map(repr, PAYMENTS))})", name="payment_known"),)


class Refund(Base):
    """Staff refunding an order (counter or online): the seats cancelled in that decision and what was paid back."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(Integer, index=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    seats: Mapped[str] = mapped_column(Text)  # JSON list of seat numbers
    amount: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    method: Mapped[str] = mapped_column(String(16))
    refunded_by: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


WAITLIST_LIVE = ("waiting", "offered")
WAITLIST_STATUSES = (*WAITLIST_LIVE, "booked", "declined", "expired", "left")


class WaitlistEntry(Base):
    """A place on a sold-out show's waiting list (engine/waitlist.py), written only by the journal writer. While
    `offered`, `hold_id` names the hold of seats offered to it; that hold's end ends the entry in the same
    transaction (confirmed: booked; released: declined; expired: expired)."""

    __tablename__ = "waitlist_entries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    party_size: Mapped[int] = mapped_column(Integer)
    together: Mapped[bool] = mapped_column(Boolean)
    number: Mapped[int] = mapped_column(Integer)  # the order of joining within the show, from 1
    status: Mapped[str] = mapped_column(String(16))
    hold_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in WAITLIST_STATUSES)})", name="status_known"),
        CheckConstraint("party_size > 0", name="party_size_positive"),
        Index("ix_waitlist_entries_show_status", "show_id", "status", "number"),
    )
