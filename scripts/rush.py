"""`cinema rush`: a seat-rush load tester that drives any running service over HTTP and checks the invariants.

Setup (users, logins, a show) happens first and is not timed. The timed part keeps C requests in flight over
reused keep-alive connections with pre-built bodies and headers, so the tool itself costs little per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson

from scripts.rawhttp import HttpError, KeepAliveConnection

PATTERNS = ("random", "hot", "sequential")


@dataclass
class RushConfig:
    base_url: str = "http://127.0.0.1:8000"
    users: int = 50
    seats: int = 100
    show: int | None = None
    requests: int = 2000
    concurrency: int = 100
    pattern: str = "random"
    hot_seats: int = 5
    cancel_ratio: float = 0.0
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


@dataclass
class FireResult:
    seconds: float
    statuses: Counter[int]
    latencies: list[float]
    booked: dict[int, int] = field(default_factory=dict)  # booking id -> seat, answered 201
    cancelled: set[int] = field(default_factory=set)  # booking ids answered 200 on cancel
    uncertain: set[int] = field(default_factory=set)  # cancels without a clear answer (5xx, timeouts)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Verdict:
    seats_booked: int
    total_seats: int
    seats_twice: list[int]
    over_capacity: bool
    lost: list[int]  # answered 201 (and not cancelled) but not booked on the server
    ghost_cancels: list[int]  # answered 200 on cancel but still booked
    available_matches: bool

    @property
    def ok(self) -> bool:
        return (
            not self.seats_twice
            and not self.over_capacity
            and not self.lost
            and not self.ghost_cancels
            and self.available_matches
        )


class RushError(Exception):
    pass


def seat_plan(config: RushConfig, total_seats: int) -> list[int]:
    rng = random.Random(config.seed)
    if config.pattern == "sequential":
        return [i % total_seats + 1 for i in range(config.requests)]
    if config.pattern == "hot":
        # everyone wants the same few seats in the middle of the hall
        middle = max(1, total_seats // 2 - config.hot_seats // 2)
        hot = [min(total_seats, middle + i) for i in range(max(1, config.hot_seats))]
        return [rng.choice(hot) for _ in range(config.requests)]
    return [rng.randint(1, total_seats) for _ in range(config.requests)]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kwargs) as response:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
        return response.status, body


async def login(session: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    status, body = await _json(session, "POST", f"{base}/login", json={"username": username, "password": password})
    if status != 200:
        raise RushError(f"login as {username!r} failed: {status} {body}")
    return body["access"]


async def prepare_users(session: aiohttp.ClientSession, config: RushConfig) -> list[dict[str, str]]:
    """Sign up (or reuse) the users and log each in; returns the Authorization headers, one per user."""
    gate = asyncio.Semaphore(16)

    async def one(index: int) -> dict[str, str]:
        username = f"{config.user_prefix}-{index}"
        async with gate:
            status, body = await _json(
                session,
                "POST",
                f"{config.base_url}/signup",
                json={"username": username, "email": f"{username}@rush.invalid", "password": config.password},
            )
            if status not in (201, 409):
                raise RushError(f"signup of {username!r} failed: {status} {body}")
            token = await login(session, config.base_url, username, config.password)
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    return list(await asyncio.gather(*(one(i) for i in range(config.users))))


async def find_show(session: aiohttp.ClientSession, base: str, show_id: int) -> Target:
    url: str | None = f"{base}/movies/"
    while url:
        status, page = await _json(session, "GET", url)
        if status != 200:
            raise RushError(f"listing movies failed: {status} {page}")
        for movie in page["results"]:
            _, detail = await _json(session, "GET", f"{base}/movies/{movie['id']}/shows/")
            for show in detail["shows"]:
                if show["id"] == show_id:
                    return Target(show_id, movie["id"], show["total_seats"])
        url = page["next"]
    raise RushError(f"show {show_id} not found")


async def create_show(session: aiohttp.ClientSession, config: RushConfig) -> Target:
    if not (config.admin_user and config.admin_password):
        raise RushError("creating a show needs --admin-user and --admin-password (or pass --show ID)")
    token = await login(session, config.base_url, config.admin_user, config.admin_password)
    headers = {"Authorization": f"Bearer {token}"}
    status, movie = await _json(
        session,
        "POST",
        f"{config.base_url}/movies/",
        json={"title": f"Rush {time.strftime('%Y-%m-%d %H:%M:%S')}", "duration_minutes": 120},
        headers=headers,
    )
    if status != 201:
        raise RushError(f"creating the movie failed: {status} {movie}")
    status, show = await _json(
        session,
        "POST",
        f"{config.base_url}/movies/{movie['id']}/shows/",
        json={"screen_name": "Rush", "date_time": "2030-01-01T20:00:00Z", "total_seats": config.seats},
        headers=headers,
    )
    if status != 201:
        raise RushError(f"creating the show failed: {status} {show}")
    return Target(show["id"], movie["id"], show["total_seats"])


async def fire(
    base: str,
    show_id: int,
    seats: list[int],
    headers: list[dict[str, str]],
    concurrency: int,
    cancel_ratio: float = 0.0,
    progress: bool = False,
    seed: int | None = None,
    request_timeout: float = 30.0,
) -> FireResult:
    """Send one request per entry of `seats`, `concurrency` at a time; the timed part of a rush.

    Each worker keeps one keep-alive connection; request bytes are assembled from parts built beforehand.
    """
    probe = KeepAliveConnection(base)
    book_heads = [probe.head("POST", f"/shows/{show_id}/book/", h) for h in headers]
    bodies = {seat: b'{"seat_number": %d}' % seat for seat in set(seats)}
    lengths = {seat: probe.length(body) for seat, body in bodies.items()}
    result = FireResult(0.0, Counter(), [])
    owned: list[list[int]] = [[] for _ in headers]  # per user: booking ids they may cancel
    rng = random.Random(seed)
    next_index = 0
    done = 0

    async def worker() -> None:
        nonlocal next_index, done
        connection = KeepAliveConnection(base)
        try:
            while next_index < len(seats):
                index = next_index
                next_index += 1
                user = index % len(headers)
                cancel = bool(owned[user]) and cancel_ratio > 0 and rng.random() < cancel_ratio
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(request_timeout):
                        if cancel:
                            booking_id = owned[user].pop(rng.randrange(len(owned[user])))
                            request = connection.build("POST", f"/bookings/{booking_id}/cancel/", headers[user])
                            status, _ = await connection.send(request)
                            if status == 200:
                                result.cancelled.add(booking_id)
                            elif status not in (404, 409):
                                result.uncertain.add(booking_id)
                        else:
                            seat = seats[index]
                            status, payload = await connection.send(book_heads[user] + lengths[seat] + bodies[seat])
                            if status == 201:
                                booking_id = orjson.loads(payload)["id"]
                                result.booked[booking_id] = seat
                                owned[user].append(booking_id)
                except (TimeoutError, ConnectionError, OSError, HttpError) as error:
                    if cancel:
                        result.uncertain.add(booking_id)
                    result.errors[type(error).__name__] += 1
                    status = 0
                    await connection.close()
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] += 1
                done += 1
        finally:
            await connection.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(0.25)
            _progress_bar(done, len(seats), time.perf_counter() - started)

    started = time.perf_counter()
    reporter = asyncio.create_task(report()) if progress else None
    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(seats)))))
    finally:
        if reporter:
            reporter.cancel()
    result.seconds = time.perf_counter() - started
    if progress:
        _progress_bar(done, len(seats), result.seconds)
        print(file=sys.stderr)
    return result


def _progress_bar(done: int, total: int, seconds: float) -> None:
    width = 30
    filled = int(width * done / max(1, total))
    rate = done / seconds if seconds > 0 else 0.0
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:,.0f} req/s", end="", file=sys.stderr)


async def verify(
    session: aiohttp.ClientSession,
    config: RushConfig,
    target: Target,
    headers: list[dict[str, str]],
    result: FireResult,
) -> Verdict:
    """Read the outcome back through the API, as any client could, and check the invariants."""
    live: dict[int, int] = {}
    seats: list[int] = []
    for user_headers in headers:
        status, bookings = await _json(session, "GET", f"{config.base_url}/my-bookings/", headers=user_headers)
        if status != 200:
            raise RushError(f"reading bookings back failed: {status} {bookings}")
        for booking in bookings:
            if booking["show"]["id"] == target.show_id and booking["status"] == "booked":
                live[booking["id"]] = booking["seat_number"]
                seats.append(booking["seat_number"])
    twice = sorted(seat for seat, count in Counter(seats).items() if count > 1)
    _, detail = await _json(session, "GET", f"{config.base_url}/movies/{target.movie_id}/shows/")
    available = next(s["available_seats"] for s in detail["shows"] if s["id"] == target.show_id)
    lost = sorted(b for b in result.booked if b not in result.cancelled | result.uncertain and b not in live)
    ghosts = sorted(b for b in result.cancelled if b in live)
    return Verdict(
        seats_booked=len(seats),
        total_seats=target.total_seats,
        seats_twice=twice,
        over_capacity=len(seats) > target.total_seats,
        lost=lost,
        ghost_cancels=ghosts,
        # other users (outside this rush) may hold seats too, so only "at most" can be checked
        available_matches=available <= target.total_seats - len(set(seats)),
    )


def summarize(config: RushConfig, target: Target, result: FireResult, verdict: Verdict) -> dict[str, Any]:
    latencies = sorted(result.latencies)
    fives = sum(
        n for status, n in result.statuses.items() if status >= 500 and not (status == 503 and config.allow_503)
    )
    return {
        "base_url": config.base_url,
        "show_id": target.show_id,
        "pattern": config.pattern,
        "requests": sum(result.statuses.values()),
        "concurrency": config.concurrency,
        "seconds": round(result.seconds, 3),
        "requests_per_second": round(sum(result.statuses.values()) / result.seconds, 1) if result.seconds else 0.0,
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 2),
            "p90": round(percentile(latencies, 0.90) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
            "max": round((latencies[-1] if latencies else 0.0) * 1000, 2),
        },
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "client_errors": dict(result.errors),
        "invariants": {**asdict(verdict), "ok": verdict.ok},
        "server_errors": fives,
        "ok": verdict.ok and fives == 0 and not result.errors,
    }


def render(summary: dict[str, Any]) -> str:
    lat = summary["latency_ms"]
    inv = summary["invariants"]
    rows = [
        ("requests", f"{summary['requests']:,} ({summary['concurrency']} in flight, {summary['pattern']})"),
        ("requests/s", f"{summary['requests_per_second']:,.0f}"),
        ("latency p50 / p90 / p99 / max", f"{lat['p50']} / {lat['p90']} / {lat['p99']} / {lat['max']} ms"),
        ("statuses", ", ".join(f"{k}: {v}" for k, v in summary["statuses"].items())),
        ("client errors", ", ".join(f"{k}: {v}" for k, v in summary["client_errors"].items()) or "none"),
        ("seats booked", f"{inv['seats_booked']} of {inv['total_seats']}"),
        ("any seat twice", ", ".join(map(str, inv["seats_twice"])) or "no"),
        ("over capacity", "YES" if inv["over_capacity"] else "no"),
        ("confirmed but lost", ", ".join(map(str, inv["lost"])) or "none"),
        ("verdict", "OK" if summary["ok"] else "FAILED"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


async def rush(config: RushConfig) -> dict[str, Any]:
    if config.pattern not in PATTERNS:
        raise RushError(f"pattern must be one of {', '.join(PATTERNS)}")
    connector = aiohttp.TCPConnector(limit=config.concurrency, limit_per_host=config.concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        headers = await prepare_users(session, config)
        if config.show is not None:
            target = await find_show(session, config.base_url, config.show)
        else:
            target = await create_show(session, config)
        seats = seat_plan(config, target.total_seats)
        result = await fire(
            config.base_url,
            target.show_id,
            seats,
            headers,
            config.concurrency,
            config.cancel_ratio,
            config.progress,
            config.seed,
        )
        verdict = await verify(session, config, target, headers, result)
    return summarize(config, target, result, verdict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the service")
    parser.add_argument("--users", type=int, default=50, help="users to create or reuse (N)")
    parser.add_argument("--seats", type=int, default=100, help="seats of the show to create (S)")
    parser.add_argument("--show", type=int, help="rush an existing show instead of creating one")
    parser.add_argument("--requests", type=int, default=2000, help="requests to send (R)")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight (C)")
    parser.add_argument("--pattern", choices=PATTERNS, default="random")
    parser.add_argument("--hot-seats", type=int, default=5, help="how many seats the 'hot' pattern fights over")
    parser.add_argument("--cancel-ratio", type=float, default=0.0, help="share of requests that cancel a booking")
    parser.add_argument("--admin-user", help="admin who creates the show")
    parser.add_argument("--admin-password")
    parser.add_argument("--user-prefix", default="rush")
    parser.add_argument("--password", default="rush-password", help="password of the rush users")
    parser.add_argument("--allow-503", action="store_true", help="count 503 (backpressure) as a clear answer")
    parser.add_argument("--seed", type=int, help="random seed for seat choice and cancels")
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON ('-' for stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_loop(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def run(args: argparse.Namespace) -> int:
    config = RushConfig(
        base_url=args.url.rstrip("/"),
        users=args.users,
        seats=args.seats,
        show=args.show,
        requests=args.requests,
        concurrency=args.concurrency,
        pattern=args.pattern,
        hot_seats=args.hot_seats,
        cancel_ratio=args.cancel_ratio,
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        user_prefix=args.user_prefix,
        password=args.password,
        allow_503=args.allow_503,
        progress=not args.quiet,
        seed=args.seed,
    )
    try:
        summary = _run_loop(rush(config))
    except (RushError, aiohttp.ClientError, OSError) as error:
        print(f"cinema rush: {error}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(summary, indent=2))
    else:
        print(render(summary))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(summary, out, indent=2)
    return 0 if summary["ok"] else 1
