"""Opening the database: URL handling and the SQLite settings that make a commit durable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///cinema.db"


def lock_timeout_ms() -> int:
    """How long a statement waits for another transaction's lock before failing (a 503 to the caller)."""
    return int(os.environ.get("CINEMA_LOCK_TIMEOUT_MS", "5000"))


# Statement parameters hold password hashes: SQLAlchemy leaves them out of its logs and errors
# (hide_parameters), and aiosqlite, which logs every call with its arguments at DEBUG, is held at INFO.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

# Errors that mean "the database is not there or not writable right now", as opposed to a bug.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, OSError, ConnectionError)


def normalize_url(url: str) -> str:
    """Accept the plain scheme names people type and pick the async driver for them."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database named `<prefix>_<pid>_<random>` on the server of `admin_url`, dropped after:
    the tests and the benchmarks each get one of their own, so runs never share state."""
    import asyncpg  # only the tools that make scratch databases need the driver at import time

    admin = make_url(normalize_url(admin_url))
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).resolve()


# PostgreSQL SQLSTATE classes and codes of the same kind: connection exceptions, insufficient resources
# (disk full, out of memory), operator intervention (shutdown, cannot connect now), lock timeout, cancelled,
# and 55000 as raised on connect by a database that is not accepting connections.
UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "55P03", "57014", "55000")


def is_unavailable(error: BaseException) -> bool:
    """True for connection loss, lock timeouts, a full disk: faults that go away, not programming errors."""
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or ""
        return sqlstate.startswith(UNAVAILABLE_SQLSTATES)
    return False


def open_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = normalize_url(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": lock_timeout_ms() / 1000}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # PostgreSQL would otherwise wait for a lock forever, holding every request behind it.
    settings = {"lock_timeout": str(lock_timeout_ms()), "statement_timeout": str(6 * lock_timeout_ms())}
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={"server_settings": settings},
    )


def open_sync_sqlite(url: str) -> Engine:
    """A blocking SQLite engine on the same file, for the journal's writer thread; same durability settings."""
    path = sqlite_path(normalize_url(url))
    assert path is not None, url
    engine = create_engine(
        f"sqlite+pysqlite:///{path}",
        connect_args={"timeout": lock_timeout_ms() / 1000, "check_same_thread": False},
        pool_size=1,
        max_overflow=0,
        hide_parameters=True,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets readers run beside the journal writer; FULL makes every commit survive power loss.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={lock_timeout_ms()}")
    cursor.close()


def database_url_from_env() -> str:
    return os.environ.get("CINEMA_DATABASE_URL") or DEFAULT_URL
