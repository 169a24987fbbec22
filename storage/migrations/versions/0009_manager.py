"""The manager's numbers: one screen per screen name, seat bands for the reports, called-off shows, and the
indexes the programme, the reports and the seat history read by.

Every show created the seed's way (`screen_name` + `total_seats`) gets the screen of that name (created with a
plain layout when none exists), so the no-overlap rule holds for every show from now on. Shows that already
overlap stay as they are: the rule refuses only new ones.

Revision ID: 0009
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from alembic import op

from engine.bands import plain_rows, seat_bands
from engine.layout import Prices, layout_from_stored

revision: str = "0009"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (never a batch copy of `shows`: that would cascade-delete its bookings on SQLite).
    op.add_column("shows", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shows", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.add_column("shows", sa.Column("cancelled_by", sa.Integer(), nullable=True))
    op.create_index("ix_shows_date_time", "shows", ["date_time"])
    op.create_index("ix_bookings_created_at", "bookings", ["created_at"])
    op.create_index("ix_bookings_cancelled_at", "bookings", ["cancelled_at"])
    op.create_index("ix_seat_journal_show_seat", "seat_journal", ["show_id", "seat_number", "seq"])
    op.create_table(
        "show_seat_bands",
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("first_seat", sa.Integer(), nullable=False),
        sa.Column("last_seat", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_show_seat_bands_show_id_shows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("show_id", "first_seat", name=op.f("pk_show_seat_bands")),
    )
    bind = op.get_bind()
    now = datetime.now(UTC)
    stamp = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now
    orphans = bind.execute(
        sa.text(
            "SELECT screen_name, max(total_seats) FROM shows WHERE screen_id IS NULL "
            "AND screen_name NOT IN (SELECT name FROM screens) GROUP BY screen_name"
        )
    ).all()
    for name, seats in orphans:
        layout = orjson.dumps(plain_rows(seats)).decode()
        bind.execute(
            sa.text(
                "INSERT INTO screens (name, layout, total_seats, schedule_version, created_at) "
                "VALUES (:name, :layout, :seats, 0, :now)"
            ),
            {"name": name, "layout": layout, "seats": seats, "now": stamp},
        )
    bind.execute(
        sa.text(
            "UPDATE shows SET screen_id = (SELECT id FROM screens WHERE screens.name = shows.screen_name) "
            "WHERE screen_id IS NULL"
        )
    )
    shows = bind.execute(sa.text("SELECT id, total_seats, layout, prices, currency FROM shows")).all()
    for show_id, total, stored, prices, currency in shows:
        layout = layout_from_stored(orjson.loads(stored)) if stored else None
        priced = Prices(orjson.loads(prices), currency or "") if prices else None
        bands = seat_bands(total, layout if layout is not None and layout.total_seats == total else None, priced)
        bind.execute(
            sa.text(
                "INSERT INTO show_seat_bands (show_id, first_seat, last_seat, category, amount) "
                "VALUES (:show, :first, :last, :category, :amount)"
            ),
            [
                {
                    "show": show_id,
                    "first": b.first_seat,
                    "last": b.last_seat,
                    "category": b.category,
                    "amount": b.amount,
                }
                for b in bands
            ],
        )


def downgrade() -> None:
    op.drop_table("show_seat_bands")
    op.drop_index("ix_seat_journal_show_seat", "seat_journal")
    op.drop_index("ix_bookings_cancelled_at", "bookings")
    op.drop_index("ix_bookings_created_at", "bookings")
    op.drop_index("ix_shows_date_time", "shows")
    for column in ("cancelled_by", "cancel_reason", "cancelled_at"):
        op.drop_column("shows", column)
