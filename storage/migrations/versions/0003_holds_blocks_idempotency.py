"""Holds, blocked seats, show layouts, idempotency keys; the journal records them too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPS = "op IN ('book', 'cancel', 'hold', 'confirm', 'release', 'expire', 'block', 'unblock')"


def upgrade() -> None:
    op.add_column("shows", sa.Column("layout", sa.Text(), nullable=True))
    with op.batch_alter_table("seat_journal") as batch:
        batch.alter_column("booking_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("hold_id", sa.String(length=32), nullable=True))
        batch.drop_constraint(op.f("ck_seat_journal_op_known"), type_="check")
        batch.create_check_constraint(op.f("ck_seat_journal_op_known"), OPS)
    op.create_table(
        "holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'confirmed', 'released', 'expired')", name=op.f("ck_holds_status_known")
        ),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_holds_show_id_shows"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_holds_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    op.create_index("ix_holds_show_status", "holds", ["show_id", "status"], unique=False)
    op.create_table(
        "blocked_seats",
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("seat_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_blocked_seats_show_id_shows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("show_id", "seat_number", name=op.f("pk_blocked_seats")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("blocked_seats")
    op.drop_table("holds")
    op.execute("DELETE FROM seat_journal WHERE op NOT IN ('book', 'cancel')")
    with op.batch_alter_table("seat_journal") as batch:
        batch.drop_constraint(op.f("ck_seat_journal_op_known"), type_="check")
        batch.create_check_constraint(op.f("ck_seat_journal_op_known"), "op IN ('book', 'cancel')")
        batch.drop_column("hold_id")
        batch.alter_column("booking_id", existing_type=sa.Integer(), nullable=False)
    op.drop_column("shows", "layout")
