"""Fixtures: every API and engine test runs on a real SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from storage.database import open_engine, scratch_postgres_database
from storage.migrate import upgrade
from storage.models import Base
from web.app import create_app
from web.context import HASHER, REPOSITORY
from web.settings import Settings

POSTGRES_ENV = "CINEMA_TEST_POSTGRES_URL"
JWT_SECRET = "test-secret-that-is-long-enough-0123456789"


def pytest_report_header() -> str:
    url = os.environ.get(POSTGRES_ENV)
    return f"PostgreSQL tests: {'on, ' + url if url else 'SKIPPED (' + POSTGRES_ENV + ' is unset)'}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One fresh database for the whole run, dropped at the end."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"PostgreSQL half skipped: set {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/postgres)")
    with scratch_postgres_database(admin_url, "cinema_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cinema.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
async def database_url(backend_url: str) -> str:
    """A migrated, empty database of the current backend."""
    url = backend_url
    engine = open_engine(url)
    try:
        await upgrade(engine)
        if url.startswith("postgresql"):
            tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tests sign up many users and book many seats from one address: the per-address and per-user limits are
    # lifted here; the tests of those limits set them back (tests/test_hostile_*.py, tests/test_hardening.py).
    return Settings(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        bcrypt_rounds=4,
        page_size=5,
        signups_per_address=1_000_000,
        refreshes_per_address=1_000_000,
        password_checks_per_address=100_000,
        max_seats_per_user=0,
    )


@dataclass
class Api:
    """A real HTTP client against the app, with helpers for the setup most tests need."""

    client: TestClient
    screens: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(1))

    @property
    def app(self) -> Any:
        return self.client.server.app

    async def user(self, username: str | None = None, password: str = "correct-horse-7") -> dict[str, Any]:
        """Sign up and log in through the API; returns id, username and auth headers."""
        username = username or f"user-{uuid.uuid4().hex[:10]}"
        response = await self.client.post(
            "/signup", json={"username": username, "email": f"{username}@example.com", "password": password}
        )
        assert response.status == 201, await response.text()
        created = await response.json()
        tokens = await (await self.client.post("/login", json={"username": username, "password": password})).json()
        return {**created, "tokens": tokens, "headers": {"Authorization": f"Bearer {tokens['access']}"}}

    async def admin_with_password(self, username: str, password: str) -> None:
        password_hash = await self.app[HASHER].hash(password)
        await self.app[REPOSITORY].create_user(username, f"{username}@example.com", password_hash, is_admin=True)

    async def admin(self) -> dict[str, Any]:
        username = f"admin-{uuid.uuid4().hex[:8]}"
        await self.admin_with_password(username, "adminpassword")
        tokens = await (
            await self.client.post("/login", json={"username": username, "password": "adminpassword"})
        ).json()
        return {"username": username, "headers": {"Authorization": f"Bearer {tokens['access']}"}}

    async def show(self, total_seats: int = 10, title: str = "Test Movie") -> dict[str, Any]:
        """A movie and one show, created through the admin API, on a screen of its own ("Screen 1" first, then
        "Screen 2" ...): the shows of one test start at the same time, and one screen shows one film at a time."""
        admin = await self.admin()
        movie = await self.client.post(
            "/movies/", json={"title": title, "duration_minutes": 120}, headers=admin["headers"]
        )
        assert movie.status == 201, await movie.text()
        movie_id = (await movie.json())["id"]
        when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        show = await self.client.post(
            f"/movies/{movie_id}/shows/",
            json={"screen_name": f"Screen {next(self.screens)}", "date_time": when, "total_seats": total_seats},
            headers=admin["headers"],
        )
        assert show.status == 201, await show.text()
        return await show.json()

    async def book(self, show_id: int, seat: int, headers: dict[str, str]) -> aiohttp.ClientResponse:
        return await self.client.post(f"/shows/{show_id}/book/", json={"seat_number": seat}, headers=headers)


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings) -> AsyncIterator[Api]:
    client = await aiohttp_client(create_app(settings), connector=aiohttp.TCPConnector(limit=400))
    yield Api(client)
