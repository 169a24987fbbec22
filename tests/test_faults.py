"""Storage faults and backpressure on a real database: locks, a full disk, lost connections, full queues.

Every request that cannot be made durable gets a 503 with Retry-After and a JSON detail, no reply claims what
is not committed, and the service recovers by itself when storage comes back.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from storage.database import normalize_url, open_engine, sqlite_path
from storage.migrate import upgrade
from tests.conftest import Api
from tests.test_concurrency import assert_invariants, stored_bookings
from web.app import create_app
from web.settings import Settings


@pytest.fixture(autouse=True)
def short_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CINEMA_LOCK_TIMEOUT_MS", "400")


async def make_api(aiohttp_client: Any, settings: Settings) -> Api:
    return Api(await aiohttp_client(create_app(settings)))


class Locker:
    """Holds a real write lock on the bookings table from another connection, as a stuck writer would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite: sqlite3.Connection | None = None
        self._pg: asyncpg.Connection | None = None

    async def __aenter__(self) -> Locker:
        path = sqlite_path(normalize_url(self.url))
        if path is not None:
            self._sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._sqlite.execute("BEGIN EXCLUSIVE")
        else:
            dsn = make_url(normalize_url(self.url)).set(drivername="postgresql").render_as_string(False)
            self._pg = await asyncpg.connect(dsn)
            await self._pg.execute("BEGIN; LOCK TABLE bookings IN EXCLUSIVE MODE")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.execute("ROLLBACK")
            await self._pg.close()


async def test_locked_database_gives_503_then_recovers(
    aiohttp_client: Any, settings: Settings, database_url: str
) -> None:
    api = await make_api(aiohttp_client, settings)
    show = await api.show(total_seats=10)
    user = await api.user()
    assert (await api.book(show["id"], 1, user["headers"])).status == 201
    async with Locker(database_url):
        started = time.monotonic()
        results = await asyncio.gather(*(api.book(show["id"], seat, user["headers"]) for seat in range(2, 7)))
        assert time.monotonic() - started < 5, "a held lock must become an answer, not a hang"
        assert [r.status for r in results] == [503] * 5
        for response in results:
            assert response.headers["Retry-After"] and (await response.json())["detail"]
    # storage is back: the actor reloaded what is on disk, so the refused seats are free again
    results = await asyncio.gather(*(api.book(show["id"], seat, user["headers"]) for seat in range(1, 7)))
    assert [r.status for r in results] == [409] + [201] * 5
    assert len(assert_invariants(await stored_bookings(database_url, show["id"]), 10)) == 6


async def test_full_queue_answers_503_at_once(
    aiohttp_client: Any, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal queue is bounded: while a commit is stuck, the overflow is refused at once."""
    monkeypatch.setenv("CINEMA_LOCK_TIMEOUT_MS", "3000")
    api = await make_api(aiohttp_client, replace(settings, journal_max_batch=5, journal_max_queue=10))
    show = await api.show(total_seats=200)
    users = await asyncio.gather(*(api.user() for _ in range(4)))
    assert (await api.book(show["id"], 200, users[0]["headers"])).status == 201  # the actor is loaded
    async with Locker(database_url):

        async def timed(seat: int) -> tuple[int, float]:
            started = time.monotonic()
            response = await api.book(show["id"], seat, users[seat % 4]["headers"])
            return response.status, time.monotonic() - started

        results = await asyncio.gather(*(timed(seat) for seat in range(1, 101)))
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[503] >= 80, statuses  # at most a batch in flight plus a full queue could wait
    refused_fast = [seconds for status, seconds in results if status == 503]
    assert min(refused_fast) < 1.5, "queue-full refusals must not wait for the stuck commit (3 s)"
    rows = await stored_bookings(database_url, show["id"])
    assert len(assert_invariants(rows, 200)) == statuses[201] + 1


async def test_mailbox_bound_refuses_overflow(aiohttp_client: Any, settings: Settings, database_url: str) -> None:
    """A show whose actor is stuck (its first load waits on a lock) queues only mailbox_size requests."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite in WAL mode never blocks a reader, so an actor's load cannot be held up")
    api = await make_api(aiohttp_client, replace(settings, mailbox_size=16))
    show = await api.show(total_seats=100)
    user = await api.user()
    dsn = make_url(normalize_url(database_url)).set(drivername="postgresql").render_as_string(False)
    holder = await asyncpg.connect(dsn)
    try:
        await holder.execute("BEGIN; LOCK TABLE shows IN ACCESS EXCLUSIVE MODE")
        results = await asyncio.gather(*(api.book(show["id"], seat, user["headers"]) for seat in range(1, 61)))
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
    statuses = Counter(r.status for r in results)
    assert statuses[503] >= 60 - 16, statuses
    assert set(statuses) <= {201, 503}
    busy = [r for r in results if r.status == 503]
    assert all(r.headers.get("Retry-After") for r in busy)
    assert (await api.book(show["id"], 99, user["headers"])).status == 201


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: a disk that can really fill up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {error}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    with path.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            pass


async def test_disk_full_gives_503_then_recovers(
    aiohttp_client: Any, settings: Settings, backend_url: str, tiny_disk: Path
) -> None:
    if not backend_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL server's disk is not this test's to fill")
    url = f"sqlite+aiosqlite:///{tiny_disk / 'cinema.db'}"
    engine = open_engine(url)
    await upgrade(engine)
    await engine.dispose()
    api = await make_api(aiohttp_client, replace(settings, database_url=url))
    show = await api.show(total_seats=500)
    user = await api.user()
    assert (await api.book(show["id"], 1, user["headers"])).status == 201
    filler = tiny_disk / "filler"
    fill(filler)
    statuses = Counter()
    for seat in range(2, 400):  # keep booking until the WAL needs a page the disk does not have
        response = await api.book(show["id"], seat, user["headers"])
        statuses[response.status] += 1
        if response.status == 503:
            assert (await response.json())["detail"]
            break
    assert statuses[503] == 1, statuses
    filler.unlink()
    response = await api.book(show["id"], 450, user["headers"])
    assert response.status == 201, await response.text()
    rows = await stored_bookings(url, show["id"])
    assert len(assert_invariants(rows, 500)) == statuses[201] + 2


async def test_lost_connections_give_503_then_recover(
    aiohttp_client: Any, settings: Settings, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no connection to lose")
    api = await make_api(aiohttp_client, settings)
    show = await api.show(total_seats=10)
    user = await api.user()
    assert (await api.book(show["id"], 1, user["headers"])).status == 201
    name = make_url(database_url).database
    admin = await asyncpg.connect(
        make_url(normalize_url(database_url)).set(drivername="postgresql", database="postgres").render_as_string(False)
    )
    try:
        # the database goes away: every connection is cut and new ones are refused
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        results = await asyncio.gather(*(api.book(show["id"], seat, user["headers"]) for seat in range(2, 5)))
        assert [r.status for r in results] == [503] * 3
        mine = await api.client.get("/my-bookings/", headers=user["headers"])
        assert mine.status == 503
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    results = await asyncio.gather(*(api.book(show["id"], seat, user["headers"]) for seat in range(2, 5)))
    assert [r.status for r in results] == [201] * 3
    assert len(assert_invariants(await stored_bookings(database_url, show["id"]), 10)) == 4


async def test_slow_client_does_not_hold_the_actor(api: Api) -> None:
    show = await api.show(total_seats=10)
    user = await api.user()
    host, port = api.client.server.host, api.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    body = b'{"seat_number": 1}'
    writer.write(
        f"POST /shows/{show['id']}/book/ HTTP/1.1\r\nHost: x\r\nAuthorization: {user['headers']['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:5]
    )
    await writer.drain()
    started = time.monotonic()
    fast = await asyncio.gather(*(api.book(show["id"], seat, user["headers"]) for seat in range(2, 8)))
    assert [r.status for r in fast] == [201] * 6
    assert time.monotonic() - started < 2
    writer.write(body[5:])  # the slow client finishes; its seat was never held for it
    await writer.drain()
    status_line = await reader.readline()
    assert b" 201 " in status_line
    writer.close()


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


async def test_memory_stays_flat_under_a_rush_ten_times_capacity(
    aiohttp_client: Any, settings: Settings, database_url: str
) -> None:
    limits = replace(settings, mailbox_size=32, journal_max_batch=32, journal_max_queue=64)
    api = await make_api(aiohttp_client, limits)
    show = await api.show(total_seats=100)
    users = await asyncio.gather(*(api.user() for _ in range(10)))
    capacity = 32 + 64

    async def round_of(requests: int) -> Counter[int]:
        results = await asyncio.gather(
            *(api.book(show["id"], 1 + n % 100, users[n % 10]["headers"]) for n in range(requests))
        )
        return Counter(r.status for r in results)

    await round_of(10 * capacity)  # warm up: actor, pools, caches
    before = rss_mb()
    for _ in range(3):
        statuses = await round_of(10 * capacity)
        assert set(statuses) <= {201, 409, 503}, statuses
    growth = rss_mb() - before
    assert growth < 30, f"RSS grew {growth:.1f} MB over three rushes of {10 * capacity} requests"
    assert_invariants(await stored_bookings(database_url, show["id"]), 100)
