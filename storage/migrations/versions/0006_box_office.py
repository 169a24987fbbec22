"""Box office: screens with seat layouts, show schedules and prices, orders, staff and door check-in.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPS_BEFORE = "op IN ('book', 'cancel', 'hold', 'confirm', 'release', 'expire', 'block', 'unblock')"
OPS = "op IN ('book', 'cancel', 'hold', 'confirm', 'release', 'expire', 'block', 'unblock', 'checkin')"


def upgrade() -> None:
    op.add_column("users", sa.Column("is_staff", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "screens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("layout", sa.Text(), nullable=False),
        sa.Column("total_seats", sa.Integer(), nullable=False),
        sa.Column("schedule_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("total_seats > 0", name=op.f("ck_screens_total_seats_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screens")),
        sa.UniqueConstraint("name", name=op.f("uq_screens_name")),
    )
    # Plain ADD COLUMNs, never a batch copy: on SQLite a batch recreates the table, and dropping the old `shows`
    # or `bookings` would cascade-delete the bookings and journal rows that point at them.
    # screen_id has no FOREIGN KEY: SQLite can neither add one in place nor drop such a column again, and
    # screens are never deleted; create_show checks the screen under its row lock.
    op.add_column("shows", sa.Column("screen_id", sa.Integer(), nullable=True))
    op.add_column("shows", sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shows", sa.Column("prices", sa.Text(), nullable=True))
    op.add_column("shows", sa.Column("currency", sa.String(length=3), nullable=True))
    op.create_index("ix_shows_screen_id_date_time", "shows", ["screen_id", "date_time"], unique=False)
    op.add_column("bookings", sa.Column("order_id", sa.Integer(), nullable=True))
    op.add_column("bookings", sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("checked_in_by", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_bookings_order_id"), "bookings", ["order_id"], unique=False)
    op.execute("UPDATE bookings SET order_id = id")  # every earlier booking was an order of its own
    with op.batch_alter_table("seat_journal") as batch:
        batch.drop_constraint(op.f("ck_seat_journal_op_known"), type_="check")
        batch.create_check_constraint(op.f("ck_seat_journal_op_known"), OPS)


def downgrade() -> None:
    op.execute("DELETE FROM seat_journal WHERE op = 'checkin'")
    with op.batch_alter_table("seat_journal") as batch:
        batch.drop_constraint(op.f("ck_seat_journal_op_known"), type_="check")
        batch.create_check_constraint(op.f("ck_seat_journal_op_known"), OPS_BEFORE)
    op.drop_index(op.f("ix_bookings_order_id"), "bookings")
    for column in ("checked_in_by", "checked_in_at", "order_id"):
        op.drop_column("bookings", column)  # SQLite drops a plain column in place (3.35+), no table copy
    op.drop_index("ix_shows_screen_id_date_time", "shows")
    for column in ("currency", "prices", "ends_at", "screen_id"):
        op.drop_column("shows", column)
    op.drop_table("screens")
    op.drop_column("users", "is_staff")
