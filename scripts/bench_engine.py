"""Benchmark 1: durable book decisions per second inside one process (engine + journal + real database).

Each decision is a real `BookingEngine.book` call that returns only after its record is committed. Workers keep
a bounded number of calls in flight, like HTTP handlers would.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.engine import make_url

from engine.seats import Outcome
from engine.service import BookingEngine
from storage.database import normalize_url, open_engine
from storage.journal import GroupCommitJournal
from storage.migrate import upgrade
from storage.repository import Repository


@dataclass
class EngineFigure:
    backend: str
    layout: str  # "hot show" or "1,000 shows"
    mode: str  # "group commit" or "commit per booking"
    decisions: int
    seconds: float
    commits: int

    @property
    def per_second(self) -> float:
        return self.decisions / self.seconds


class ScratchDatabase:
    """A fresh database for one measurement: a temporary SQLite file, or a PostgreSQL database dropped after."""

    def __init__(self, backend: str, postgres_url: str | None) -> None:
        self.backend = backend
        self._postgres = postgres_url
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._name = f"cinema_bench_{uuid.uuid4().hex[:8]}"
        self.url = ""

    async def __aenter__(self) -> str:
        if self.backend == "sqlite":
            self._dir = tempfile.TemporaryDirectory(prefix="cinema-bench-")
            self.url = f"sqlite+aiosqlite:///{self._dir.name}/bench.db"
        else:
            assert self._postgres
            await self._admin(f'CREATE DATABASE "{self._name}"')
            self.url = make_url(normalize_url(self._postgres)).set(database=self._name).render_as_string(False)
        engine = open_engine(self.url)
        await upgrade(engine)
        await engine.dispose()
        return self.url

    async def __aexit__(self, *exc: object) -> None:
        if self._dir:
            self._dir.cleanup()
        else:
            await self._admin(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        assert self._postgres
        dsn = make_url(normalize_url(self._postgres)).set(drivername="postgresql").render_as_string(False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


async def measure(
    url: str, backend: str, shows: int, decisions: int, max_batch: int, in_flight: int = 2000
) -> EngineFigure:
    engine = open_engine(url)
    repository = Repository(engine)
    user = await repository.create_user(f"bench-{uuid.uuid4().hex[:6]}", "bench@example.com", "x" * 60)
    movie = await repository.create_movie("Bench", 100)
    per_show = -(-decisions // shows)
    show_ids = [
        (await repository.create_show(movie.id, "B", datetime.now(UTC) + timedelta(days=1), per_show)).id
        for _ in range(shows)
    ]
    journal = GroupCommitJournal(engine, max_batch=max_batch, max_queue=max(in_flight * 2, 20_000))
    journal.start()
    booking = BookingEngine(repository, journal)
    plan = [(show_ids[i % shows], i // shows + 1) for i in range(decisions)]
    outcomes: Counter[Outcome] = Counter()
    cursor = 0

    async def worker() -> None:
        nonlocal cursor
        while cursor < len(plan):
            show_id, seat = plan[cursor]
            cursor += 1
            outcomes[(await booking.book(show_id, user.id, seat)).outcome] += 1

    for show_id in show_ids:  # load the actors first: start-up is not what is measured
        await booking.book(show_id, user.id, 0)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(in_flight, decisions))))
    seconds = time.perf_counter() - started
    await booking.close()
    await journal.close()
    await engine.dispose()
    assert outcomes == {Outcome.BOOKED: decisions}, outcomes
    layout = "hot show" if shows == 1 else f"{shows:,} shows"
    mode = "group commit" if max_batch > 1 else "commit per booking"
    return EngineFigure(backend, layout, mode, decisions, seconds, journal.stats.batches)


async def run(backends: list[str], postgres_url: str | None, scale: float = 1.0) -> list[EngineFigure]:
    figures = []
    for backend in backends:
        for shows in (1, 1000):
            for max_batch, decisions in ((1000, int(100_000 * scale)), (1, int(2_000 * scale))):
                async with ScratchDatabase(backend, postgres_url) as url:
                    figure = await measure(url, backend, shows, max(decisions, shows), max_batch)
                figures.append(figure)
                print(
                    f"engine {backend:10} {figure.layout:12} {figure.mode:18} {figure.per_second:>10,.0f} decisions/s"
                    f"  ({figure.decisions:,} in {figure.seconds:.2f}s, {figure.commits:,} commits)",
                    flush=True,
                )
    return figures


if __name__ == "__main__":
    url = os.environ.get("CINEMA_TEST_POSTGRES_URL")
    asyncio.run(run(["sqlite", "postgresql"] if url else ["sqlite"], url, float(os.environ.get("SCALE", "1"))))
