"""Alembic history on both backends: models agree with head, upgrades from empty and from the previous step."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import open_engine
from storage.migrate import SchemaBehind, current_revision, downgrade, ensure_current, head_revision, upgrade
from storage.models import Base
from storage.repository import Repository, UsernameTaken


async def insert_user_movie_show(conn: AsyncConnection) -> None:
    """Rows in the seed schema's own terms (plain SQL), as an older version would have left them."""
    await conn.execute(
        text(
            "INSERT INTO users (id, username, email, password_hash, is_admin, created_at) "
            "VALUES (1, 'u', 'u@x.io', 'h', false, CURRENT_TIMESTAMP)"
        )
    )
    await conn.execute(text("INSERT INTO movies (id, title, duration_minutes) VALUES (1, 'm', 90)"))
    await conn.execute(
        text(
            "INSERT INTO shows (id, movie_id, screen_name, date_time, total_seats) "
            "VALUES (1, 1, 's', CURRENT_TIMESTAMP, 5)"
        )
    )


async def test_models_match_migration_head(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], "models and migrations disagree: write a migration"


async def test_upgrade_from_previous_keeps_bookings(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        await downgrade(engine, "0001")
        assert await current_revision(engine) == "0001"
        with pytest.raises(SchemaBehind, match="cinema migrate"):
            await ensure_current(engine)
        async with engine.begin() as conn:
            await insert_user_movie_show(conn)
            await conn.execute(
                text(
                    "INSERT INTO bookings (id, user_id, show_id, seat_number, status, created_at, cancelled_at) "
                    "VALUES (1, 1, 1, 2, 'booked', CURRENT_TIMESTAMP, NULL), "
                    "(2, 1, 1, 3, 'cancelled', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        await ensure_current(engine)
        async with engine.connect() as conn:
            journal = (await conn.execute(text("SELECT booking_id, op FROM seat_journal ORDER BY seq"))).all()
        assert [tuple(row) for row in journal] == [(1, "book"), (2, "book"), (2, "cancel")]
    finally:
        await engine.dispose()


async def test_upgrade_from_empty(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        with pytest.raises(SchemaBehind, match="empty database"):
            await ensure_current(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_live_seat_index_is_the_last_line_of_defence(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        async with engine.begin() as conn:
            await insert_user_movie_show(conn)
            insert = text(
                "INSERT INTO bookings (user_id, show_id, seat_number, status, created_at) "
                "VALUES (1, 1, 2, :status, CURRENT_TIMESTAMP)"
            )
            await conn.execute(insert, {"status": "cancelled"})
            await conn.execute(insert, {"status": "booked"})
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert, {"status": "booked"})
    finally:
        await engine.dispose()


async def test_0005_keys_existing_usernames_and_keeps_colliding_accounts(database_url: str) -> None:
    """Accounts that collide after folding (signed up before 0005) all survive; the oldest keeps the plain key."""
    engine = open_engine(database_url)
    try:
        await downgrade(engine, "0006")
        async with engine.begin() as conn:
            for user_id, name in ((1, "Alice"), (2, "alice"), (3, "\ufb01le"), (4, "bob")):
                await conn.execute(
                    text(
                        "INSERT INTO users (id, username, email, password_hash, is_admin, created_at) "
                        "VALUES (:id, :name, 'x@x.io', 'h', false, CURRENT_TIMESTAMP)"
                    ),
                    {"id": user_id, "name": name},
                )
            await conn.execute(text("INSERT INTO movies (id, title, duration_minutes) VALUES (1, 'm', 90)"))
            await conn.execute(
                text(
                    "INSERT INTO shows (id, movie_id, screen_name, date_time, total_seats) "
                    "VALUES (1, 1, 's', CURRENT_TIMESTAMP, 5)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO bookings (id, user_id, show_id, seat_number, status, created_at) "
                    "VALUES (1, 2, 1, 2, 'booked', CURRENT_TIMESTAMP)"
                )
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            keys = (await conn.execute(text("SELECT id, username_key FROM users ORDER BY id"))).all()
            bookings = (await conn.execute(text("SELECT count(*) FROM bookings"))).scalar_one()
        assert [tuple(row) for row in keys] == [(1, "alice"), (2, "alice#2"), (3, "file"), (4, "bob")]
        assert bookings == 1  # nothing cascaded away
        repository = Repository(engine)
        for twin in ("ALICE", "File", "Bob"):
            with pytest.raises(UsernameTaken):
                await repository.create_user(twin, "t@x.io", "h")
        assert (await repository.user_by_name("alice")) is not None  # both old accounts still log in by name
        assert (await repository.user_by_name("Alice")) is not None
    finally:
        await engine.dispose()
