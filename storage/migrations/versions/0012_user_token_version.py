"""users.token_version: a password change bumps it, and tokens issued before carry the old number.

Access tokens are checked by signature and expiry alone until their user is rechecked (every
CINEMA_USER_RECHECK_SECONDS); the recheck now also compares the token's version with the user's, so a password
reset ends every login of before it at the next recheck. Existing users start at 0, as do tokens without one.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place with a default (no SQLite table rebuild, whose drop would fire the cascades on users).
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("users", "token_version")  # SQLite drops a plain column in place (3.35+), no table copy
