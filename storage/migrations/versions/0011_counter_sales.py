"""Counter sales and ticket types: each booking's ticket type and price as sold, a hold's ticket types, the
box-office orders (who sold them, how they were paid, the walk-in customer) and refunds by staff.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch copy of bookings: see 0006). Earlier bookings keep NULL: adult, at the price
    # their show's category has.
    op.add_column("bookings", sa.Column("ticket_type", sa.String(length=32), nullable=True))
    op.add_column("bookings", sa.Column("price", sa.Integer(), nullable=True))
    op.add_column("holds", sa.Column("ticket_types", sa.Text(), nullable=True))
    op.create_table(
        "counter_sales",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("sold_by", sa.Integer(), nullable=False),
        sa.Column("payment", sa.String(length=16), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=True),
        sa.Column("customer_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("payment IN ('cash', 'card', 'complimentary')", name=op.f("ck_counter_sales_payment_known")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["bookings.id"], name=op.f("fk_counter_sales_order_id_bookings"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_counter_sales_show_id_shows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_counter_sales")),
    )
    op.create_index(op.f("ix_counter_sales_show_id"), "counter_sales", ["show_id"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Text(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("refunded_by", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_refunds_show_id_shows"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index(op.f("ix_refunds_order_id"), "refunds", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_refunds_order_id"), table_name="refunds")
    op.drop_table("refunds")
    op.drop_index(op.f("ix_counter_sales_show_id"), table_name="counter_sales")
    op.drop_table("counter_sales")
    op.drop_column("holds", "ticket_types")
    for column in ("price", "ticket_type"):
        op.drop_column("bookings", column)
