"""Usernames unique after NFKC and case folding; refresh tokens stored, so rotation and revocation survive restarts.

Existing users get their key. Where older rows already collide (`Alice` and `alice` both signed up), the
oldest account (lowest id) keeps the plain key and each later one gets `<key>#<id>`: `#` cannot occur in a
username, so no new sign-up can ever match it, both accounts keep logging in with their exact names, and no
account is merged or deleted behind its owner's back. Refresh tokens issued before this revision have no row
and stop working: their users log in again (access tokens are not affected).

Revision ID: 0005
Revises: 0006
Create Date: 2026-11-25
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(username: str) -> str:  # storage/usernames.py as of this revision (a migration must not change later)
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def upgrade() -> None:
    # Added in place with a default, then filled, then indexed: rebuilding `users` the SQLite way (copy, drop,
    # rename) would fire the ON DELETE CASCADE of bookings and the journal.
    op.add_column(
        "users", sa.Column("username_key", sa.String(length=600), server_default=sa.text("''"), nullable=False)
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String), sa.column("username_key"))
    connection = op.get_bind()
    taken: set[str] = set()
    for user_id, username in connection.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)):
        key = _key(username)
        if key in taken:
            key = f"{key}#{user_id}"
        taken.add(key)
        connection.execute(users.update().where(users.c.id == user_id).values(username_key=key))
    op.create_index(op.f("ix_users_username_key"), "users", ["username_key"], unique=True)
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(op.f("ix_refresh_tokens_family"), "refresh_tokens", ["family"], unique=False)
    op.create_index(op.f("ix_refresh_tokens_expires_at"), "refresh_tokens", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_refresh_tokens_expires_at"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_family"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index(op.f("ix_users_username_key"), table_name="users")
    op.drop_column("users", "username_key")
