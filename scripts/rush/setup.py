"""`cinema rush`'s setup, before anything is timed: reach the service, find or create the show, sign up and log in
the users (all at once in a login storm), read the seat map."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from scripts.rush.load import histogram, latency_ms

RUSH_MOVIE = "cinema rush (load tests)"  # every rush that creates a show adds it to this one movie
DEFAULT_SEATS_PER_USER = 10  # the service's documented CINEMA_MAX_SEATS_PER_USER, when the seat map does not say
MAX_USERS = 10_000


@dataclass
class RushConfig:
    base_url: str = "http://127.0.0.1:8000"
    users: int = 20
    seats: int = 100
    show: int | None = None
    requests: int = 2000  # closed loop: actions to send (0 = until --duration ends)
    duration: float | None = None  # seconds; open loop default 10, closed loop default: no limit but 600
    rate: tuple[float, float] | None = None  # open loop: arrivals per second at the start and the end
    concurrency: int = 100
    procs: int = 0  # 0 = every core
    pattern: str = "random"
    hot_seats: int = 5
    mix: dict[str, float] = field(default_factory=lambda: {"single": 1.0})
    timeout: float = 30.0
    retries: int = 0
    warmup: float = 0.0
    login_storm: bool = False
    admin_user: str | None = None
    admin_password: str | None = None
    user_prefix: str = "rush"
    password: str = "rush-password"
    allow_503: bool = False
    progress: bool = True
    seed: int | None = None


@dataclass
class Target:
    show_id: int
    movie_id: int
    total_seats: int
    rows: bool


class RushError(Exception):
    pass


def say(config: RushConfig, message: str) -> None:
    if config.progress:
        print(f"rush: {message}", file=sys.stderr, flush=True)


# -- setup ---------------------------------------------------------------------------------------------------


async def request_json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kwargs) as response:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
        return response.status, body


def detail_of(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body)
    return f"{body.get('detail', body)}" + (f" {body['errors']}" if body.get("errors") else "")


async def reach(session: aiohttp.ClientSession, base: str) -> None:
    try:
        status, body = await request_json(session, "GET", f"{base}/movies/", timeout=aiohttp.ClientTimeout(total=10))
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise RushError(f"cannot reach {base}: {error or type(error).__name__}") from error
    if status != 200 or not isinstance(body, dict) or "results" not in body:
        raise RushError(f"{base} does not look like the cinema service (GET /movies/ answered {status})")


async def login(session: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    credentials = {"username": username, "password": password}
    status, body = await request_json(session, "POST", f"{base}/login", json=credentials)
    if status != 200:
        raise RushError(f"login as {username!r} failed: {status} {detail_of(body)}")
    return body["access"]


async def find_show(session: aiohttp.ClientSession, base: str, show_id: int) -> Target:
    status, seat_map = await request_json(session, "GET", f"{base}/shows/{show_id}/seats/")
    if status != 200:
        raise RushError(f"show {show_id} not found ({status} {detail_of(seat_map)})")
    url: str | None = f"{base}/movies/"
    while url:
        _, page = await request_json(session, "GET", url)
        for movie in page["results"]:
            _, detail = await request_json(session, "GET", f"{base}/movies/{movie['id']}/shows/")
            if any(show["id"] == show_id for show in detail["shows"]):
                return Target(show_id, movie["id"], seat_map["total_seats"], bool(seat_map.get("rows")))
        url = page["next"]
    raise RushError(f"show {show_id} belongs to no listed movie")


async def create_show(session: aiohttp.ClientSession, config: RushConfig) -> Target:
    """A fresh show of the one movie every rush shares (created once), so runs do not fill the catalogue."""
    if not (config.admin_user and config.admin_password):
        raise RushError("creating a show needs --admin-user and --admin-password (or pass --show ID)")
    base = config.base_url
    token = await login(session, base, config.admin_user, config.admin_password)
    headers = {"Authorization": f"Bearer {token}"}
    movie_id = await _rush_movie(session, base)
    if movie_id is None:
        status, movie = await request_json(
            session, "POST", f"{base}/movies/", json={"title": RUSH_MOVIE, "duration_minutes": 120}, headers=headers
        )
        if status == 403:
            raise RushError(f"{config.admin_user!r} is not an admin (cinema create-admin makes one)")
        if status != 201:
            raise RushError(f"creating the movie failed: {status} {detail_of(movie)}")
        movie_id = movie["id"]
    per_row = max(20, -(-config.seats // 100))  # rows of 20, or wider ones for big halls (at most 100 rows)
    rows = [
        {"label": _row_label(i), "seats": min(per_row, config.seats - per_row * i)}
        for i in range(-(-config.seats // per_row))
    ]
    status, show = await request_json(
        session,
        "POST",
        f"{base}/movies/{movie_id}/shows/",
        json={
            "screen_name": f"Rush {uuid.uuid4().hex[:8]}",
            "date_time": "2030-01-01T20:00:00Z",
            "total_seats": config.seats,
            "rows": rows,
        },
        headers=headers,
    )
    if status == 403:
        raise RushError(f"{config.admin_user!r} is not an admin (cinema create-admin makes one)")
    if status != 201:
        raise RushError(f"creating the show failed: {status} {detail_of(show)}")
    return Target(show["id"], movie_id, show["total_seats"], True)


def _row_label(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]


async def _rush_movie(session: aiohttp.ClientSession, base: str) -> int | None:
    url: str | None = f"{base}/movies/"
    while url:
        _, page = await request_json(session, "GET", url)
        for movie in page["results"]:
            if movie["title"] == RUSH_MOVIE:
                return movie["id"]
        url = page["next"]
    return None


def users_for(wanted: int, free: int, cap: int) -> int:
    """Users enough to book `free` seats when one customer may have `cap` (0: no cap), and at least `wanted`: a
    quarter more than the bare quotient, since a user who reaches the cap early (a 3-seat request at 9 of 10)
    must not leave the last seats unsold."""
    if cap <= 0 or free <= 0:
        return wanted
    needed = -(-free // cap)
    return max(wanted, needed + -(-needed // 4))


def seats_per_user(seat_map: dict[str, Any]) -> int:
    cap = seat_map.get("max_seats_per_user")
    return cap if isinstance(cap, int) and cap >= 0 else DEFAULT_SEATS_PER_USER


def plan_users(config: RushConfig, free: int, cap: int) -> None:
    """Raise config.users to what the show needs under the per-customer cap, saying so (or why it cannot)."""
    users = users_for(config.users, free, cap)
    if users == config.users:
        return
    if users > MAX_USERS:
        say(config, f"{free} free seats at {cap} a customer need {users} users; the rush signs up at most {MAX_USERS}")
        users = MAX_USERS
    say(
        config,
        f"{config.users} users can book at most {config.users * cap} of the {free} free seats (the service allows "
        f"{cap} a customer, CINEMA_MAX_SEATS_PER_USER): signing up {users}",
    )
    config.users = users


async def sign_up(session: aiohttp.ClientSession, config: RushConfig) -> list[str]:
    """Sign up (or reuse) the users; when the service's sign-up limit stops it, go on with those it has and say
    why the show may not sell out."""
    gate = asyncio.Semaphore(16)
    names = [f"{config.user_prefix}-{index}" for index in range(config.users)]
    ready: set[str] = set()
    limited: list[str] = []

    async def one(username: str) -> None:
        async with gate:
            if limited:
                return
            status, body = await request_json(
                session,
                "POST",
                f"{config.base_url}/signup",
                json={"username": username, "email": f"{username}@rush.invalid", "password": config.password},
            )
        if status == 429:
            limited.append(f"{status} {detail_of(body)}")
        elif status not in (201, 409):
            raise RushError(f"signup of {username!r} failed: {status} {detail_of(body)}")
        else:
            ready.add(username)

    await asyncio.gather(*(one(name) for name in names))
    kept = [name for name in names if name in ready]
    if limited:
        if not kept:
            raise RushError(f"the service refused every sign-up ({limited[0]}); raise CINEMA_SIGNUPS_PER_ADDRESS")
        say(
            config,
            f"the service refused further sign-ups ({limited[0]}): going on with {len(kept)} of {len(names)} users; "
            "to sell the show out, raise CINEMA_SIGNUPS_PER_ADDRESS or CINEMA_MAX_SEATS_PER_USER on the service",
        )
    say(
        config,
        f"{len(kept)} users signed up or reused ({config.user_prefix}-0 .. {config.user_prefix}-{len(names) - 1})",
    )
    config.users = len(kept)
    return kept


async def log_in(session: aiohttp.ClientSession, config: RushConfig, names: list[str]) -> list[str]:
    gate = asyncio.Semaphore(16)

    async def one(username: str) -> str:
        async with gate:
            return await login(session, config.base_url, username, config.password)

    tokens = await asyncio.gather(*(one(name) for name in names))
    say(config, f"{len(tokens)} users logged in")
    return list(tokens)


async def login_storm(session: aiohttp.ClientSession, config: RushConfig, names: list[str]) -> tuple[list[str], dict]:
    """Every user logs in at the same moment; the latencies, statuses and wall time are a phase of their own."""
    hist = histogram()
    statuses: Counter[int] = Counter()
    started = time.monotonic()

    async def one(username: str) -> str | None:
        begun = time.monotonic()
        try:
            status, body = await request_json(
                session, "POST", f"{config.base_url}/login", json={"username": username, "password": config.password}
            )
        except (aiohttp.ClientError, OSError, TimeoutError):
            status, body = 0, None
        hist.record_value(max(1, int((time.monotonic() - begun) * 1e6)))
        statuses[status] += 1
        return body["access"] if status == 200 else None

    tokens = await asyncio.gather(*(one(name) for name in names))
    seconds = time.monotonic() - started
    phase = {
        "seconds": round(seconds, 3),
        "requests": len(names),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": latency_ms(hist),
        "requests_per_second": round(len(names) / seconds, 1),
    }
    say(config, f"login storm: {len(names)} logins at once in {seconds:.2f} s, statuses {phase['statuses']}")
    kept = [t for t in tokens if t]
    if not kept:
        raise RushError("no user could log in during the login storm")
    return kept, phase


async def seat_map(session: aiohttp.ClientSession, base: str, show_id: int) -> dict[str, Any]:
    status, body = await request_json(session, "GET", f"{base}/shows/{show_id}/seats/")
    if status != 200:
        raise RushError(f"reading the seat map failed: {status} {detail_of(body)}")
    return body
