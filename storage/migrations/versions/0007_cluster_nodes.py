"""The node registry of cluster mode: one row per live `cinema serve` node, kept fresh by its heartbeat.

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("secret_check", sa.String(length=64), nullable=False),
        sa.Column("jwt_check", sa.String(length=64), nullable=False),
        sa.Column("lease_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_nodes")),
    )
    op.create_index(op.f("ix_cluster_nodes_expires_at"), "cluster_nodes", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cluster_nodes_expires_at"), table_name="cluster_nodes")
    op.drop_table("cluster_nodes")
