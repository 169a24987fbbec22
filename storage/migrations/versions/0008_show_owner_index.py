"""An index on show_owners.owner: every heartbeat renews, and every clean stop releases, the leases of one node
(UPDATE ... WHERE owner = :id), and GET /cluster lists each node's shows; without it each of those read the whole
table, once per node per heartbeat.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_show_owners_owner"), "show_owners", ["owner"])


def downgrade() -> None:
    op.drop_index(op.f("ix_show_owners_owner"), table_name="show_owners")
