"""Show owner epochs (the fence behind "one decider per show"); bookings ids from the database's sequence.

Revision ID: 0004
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "show_owners",
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_show_owners_show_id_shows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("show_id", name=op.f("pk_show_owners")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # The journal now takes booking ids from the sequence (safe across writers); older versions wrote
        # max(id) + 1 themselves and never advanced it.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('bookings', 'id'), coalesce(max(id), 0) + 1, false) FROM bookings"
        )


def downgrade() -> None:
    op.drop_table("show_owners")
