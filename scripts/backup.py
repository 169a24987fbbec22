"""`cinema backup PATH`: a consistent copy of a live SQLite database, taken with SQLite's online backup API.

The copy is one read transaction's snapshot (every page in one step), so it holds exactly the bookings committed
before it began and none half-written; in WAL mode the service keeps committing meanwhile. A plain `cp` of the
file is no backup: it misses what sits in cinema.db-wal and can copy a page mid-write. PostgreSQL has pg_dump."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.database import lock_timeout_ms, sqlite_path


class BackupRefused(Exception):
    """One line for the operator: why no copy was made (nothing was written)."""


def postgres_hint(url: str) -> str:
    shown = make_url(url).set(drivername="postgresql").render_as_string(hide_password=True)
    return (
        f"cinema backup copies SQLite databases only; for PostgreSQL use pg_dump: "
        f"pg_dump --format=custom --file=cinema.dump '{shown}' (restore with pg_restore --clean --dbname=...)"
    )


def backup(url: str, target: Path) -> list[str]:
    """Copy the SQLite database at `url` to `target` (which must not exist); returns what to tell the operator."""
    source = sqlite_path(url)
    if source is None:
        raise BackupRefused(postgres_hint(url))
    if not source.exists():
        raise BackupRefused(f"no database at {source} (nothing to back up)")
    target = target.absolute()
    if target.exists() or target.is_symlink():
        raise BackupRefused(f"{target} already exists; give a new path (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BackupRefused(f"the folder {target.parent} does not exist")
    if target.resolve() in (source, *(source.with_name(source.name + end) for end in ("-wal", "-shm"))):
        raise BackupRefused(f"{target} is the database itself")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    started = time.monotonic()
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # it holds password hashes
        revision = _copy(source, partial)
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        try:
            os.link(partial, target)  # never over a file that appeared meanwhile
        except FileExistsError:
            raise BackupRefused(f"{target} already exists; give a new path (a backup never overwrites)") from None
        _fsync_folder(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    size = target.stat().st_size
    return [
        f"backed up {source} to {target} ({size / 1e6:.1f} MB, schema {revision}, {seconds:.2f} s)",
        f"to restore: stop the service, remove {source.name}-wal and {source.name}-shm beside {source.name} if any "
        f"(they belong to the old file), copy {target.name} over {source}, then start it; or serve the copy "
        f"where it is: cinema serve --database-url sqlite:///{target}",
        f"tokens stay valid only with the same signing secret: keep {source.name}.jwt-secret (or CINEMA_JWT_SECRET) "
        "with the copy",
    ]


def _copy(source: Path, target: Path) -> str:
    """All pages in one step of the online backup API (one consistent snapshot), checked before it is kept."""
    timeout = lock_timeout_ms() / 1000
    with contextlib.closing(sqlite3.connect(source, timeout=timeout)) as live:
        with contextlib.closing(sqlite3.connect(target)) as copy:
            live.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file; the service turns WAL back on
            problem = copy.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise BackupRefused(f"the copy of {source} failed its check ({problem}); the database may be damaged")
            try:
                revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.DatabaseError:
                revision = None
    return revision[0] if revision else "empty"


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
