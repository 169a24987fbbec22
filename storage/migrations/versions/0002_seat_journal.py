"""The seat journal: an append-only write-ahead record of every booking and cancel, in commit order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seat_journal",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("seat_number", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("op IN ('book', 'cancel')", name=op.f("ck_seat_journal_op_known")),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_seat_journal_booking_id_bookings"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_seat_journal_show_id_shows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_seat_journal")),
    )
    op.create_index(op.f("ix_seat_journal_show_id"), "seat_journal", ["show_id"], unique=False)
    # Bookings made before the journal existed get their book entry, so the journal tells the whole story.
    op.execute(
        "INSERT INTO seat_journal (show_id, booking_id, op, seat_number, user_id, at) "
        "SELECT show_id, id, 'book', seat_number, user_id, created_at FROM bookings ORDER BY id"
    )
    op.execute(
        "INSERT INTO seat_journal (show_id, booking_id, op, seat_number, user_id, at) "
        "SELECT show_id, id, 'cancel', seat_number, user_id, COALESCE(cancelled_at, created_at) FROM bookings "
        "WHERE status = 'cancelled' ORDER BY id"
    )


def downgrade() -> None:
    op.drop_table("seat_journal")
