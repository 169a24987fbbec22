"""The waiting list of sold-out shows: one row per entry, its offer's hold, and how it ended.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "status IN ('waiting', 'offered', 'booked', 'declined', 'expired', 'left')"


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("party_size", sa.Integer(), nullable=False),
        sa.Column("together", sa.Boolean(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(STATUSES, name=op.f("ck_waitlist_entries_status_known")),
        sa.CheckConstraint("party_size > 0", name=op.f("ck_waitlist_entries_party_size_positive")),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_waitlist_entries_show_id_shows"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_waitlist_entries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    op.create_index(op.f("ix_waitlist_entries_user_id"), "waitlist_entries", ["user_id"])
    op.create_index(op.f("ix_waitlist_entries_hold_id"), "waitlist_entries", ["hold_id"])
    op.create_index("ix_waitlist_entries_show_status", "waitlist_entries", ["show_id", "status", "number"])


def downgrade() -> None:
    op.drop_index("ix_waitlist_entries_show_status", table_name="waitlist_entries")
    op.drop_index(op.f("ix_waitlist_entries_hold_id"), table_name="waitlist_entries")
    op.drop_index(op.f("ix_waitlist_entries_user_id"), table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
