"""kill -9 mid-rush: a real server process is killed at a random moment while clients book and cancel, then
restarted on the same database, and everything it ever confirmed is checked against what is stored.

`python -m scripts.testing.crash --cycles 20` is the soak; tests/test_crash.py runs a short version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy import text

from scripts.testing.server_process import ServerProcess, run_cinema
from storage.database import open_engine

JWT_SECRET = "crash-test-secret-that-is-long-enough"


@dataclass
class CycleReport:
    cycle: int
    killed_after: float
    confirmed_bookings: int
    confirmed_cancels: int
    unanswered: int
    lost: list[int] = field(default_factory=list)  # answered 201, not booked (nor cancelled by a 200/unknown)
    resurrected: list[int] = field(default_factory=list)  # answered 200 on cancel, still booked
    seats_twice: list[int] = field(default_factory=list)
    over_capacity: bool = False
    unexpected_statuses: dict[int, int] = field(default_factory=dict)
    exit_code: int | None = None
    expected_exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.resurrected
            or self.seats_twice
            or self.over_capacity
            or self.unexpected_statuses
            or self.exit_code != self.expected_exit_code
        )


async def _stored(url: str, show_id: int) -> dict[int, tuple[int, str]]:
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id, seat_number, status FROM bookings WHERE show_id = :s"), {"s": show_id}
            )
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        await engine.dispose()


async def _setup(base: str, users: int, seats: int) -> tuple[list[dict[str, str]], int]:
    async with aiohttp.ClientSession() as session:

        async def token(username: str, password: str) -> str:
            async with session.post(f"{base}/login", json={"username": username, "password": password}) as r:
                assert r.status == 200, await r.text()
                return (await r.json())["access"]

        admin = {"Authorization": f"Bearer {await token('crash-admin', 'crash-admin-password')}"}
        async with session.post(f"{base}/movies/", json={"title": "Crash", "duration_minutes": 90}, headers=admin) as r:
            movie = await r.json()
        async with session.post(
            f"{base}/movies/{movie['id']}/shows/",
            json={
                "screen_name": f"K {uuid.uuid4().hex[:8]}",
                "date_time": "2030-01-01T20:00:00Z",
                "total_seats": seats,
            },
            headers=admin,
        ) as r:
            show = await r.json()
        headers = []
        for n in range(users):
            name = f"crash-{n}"
            async with session.post(
                f"{base}/signup", json={"username": name, "email": f"{name}@x.io", "password": "crash-password"}
            ) as r:
                assert r.status in (201, 409)
            headers.append({"Authorization": f"Bearer {await token(name, 'crash-password')}"})
    return headers, show["id"]


async def _rush_until_killed(
    base: str,
    show_id: int,
    seats: int,
    headers: list[dict[str, str]],
    server: ServerProcess,
    kill_after: float,
    rng: random.Random,
    sig: signal.Signals = signal.SIGKILL,
) -> dict[str, Any]:
    booked: dict[int, int] = {}  # booking id -> seat, answered 201
    cancelled: set[int] = set()  # answered 200
    uncertain_cancels: set[int] = set()  # sent, no answer
    owned: list[list[int]] = [[] for _ in headers]
    statuses: Counter[int] = Counter()
    unanswered = 0
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession, user: int) -> None:
        nonlocal unanswered
        while not stop.is_set():
            cancel = owned[user] and rng.random() < 0.25
            try:
                if cancel:
                    booking_id = owned[user].pop(rng.randrange(len(owned[user])))
                    uncertain_cancels.add(booking_id)
                    async with session.post(f"{base}/bookings/{booking_id}/cancel/", headers=headers[user]) as r:
                        statuses[r.status] += 1
                        if r.status == 200:
                            cancelled.add(booking_id)
                        if r.status in (200, 404, 409):
                            uncertain_cancels.discard(booking_id)
                else:
                    seat = rng.randint(1, seats)
                    async with session.post(
                        f"{base}/shows/{show_id}/book/", json={"seat_number": seat}, headers=headers[user]
                    ) as r:
                        statuses[r.status] += 1
                        if r.status == 201:
                            body = await r.json()
                            booked[body["id"]] = seat
                            owned[user].append(body["id"])
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                unanswered += 1
                await asyncio.sleep(0.01)

    exit_code: list[int] = []

    async def killer() -> None:
        await asyncio.sleep(kill_after)
        server.process.send_signal(sig)
        # SIGTERM: the server drains while the clients keep asking; wait for its exit off the loop
        exit_code.append(await asyncio.to_thread(server.process.wait, 60))
        await asyncio.sleep(0.2)  # let in-flight requests fail
        stop.set()

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200), timeout=timeout) as session:
        await asyncio.gather(killer(), *(client(session, n % len(headers)) for n in range(100)))
    return {
        "booked": booked,
        "cancelled": cancelled,
        "uncertain": uncertain_cancels,
        "statuses": statuses,
        "unanswered": unanswered,
        "exit_code": exit_code[0],
    }


def prepare_database(url: str) -> None:
    for args in (["migrate"], ["create-admin", "crash-admin", "--password", "crash-admin-password"]):
        result = run_cinema(args, url, CINEMA_JWT_SECRET=JWT_SECRET)
        assert result.returncode == 0, result.stderr


def run_cycles(
    url: str,
    cycles: int,
    seats: int = 200,
    users: int = 20,
    seed: int | None = None,
    log: bool = True,
    sig: signal.Signals = signal.SIGKILL,
) -> list[CycleReport]:
    """Rush, stop the server with `sig` at a random moment, restart, compare. SIGTERM must also exit 0."""
    rng = random.Random(seed)
    prepare_database(url)
    reports = []
    for cycle in range(1, cycles + 1):
        server = ServerProcess(url, CINEMA_JWT_SECRET=JWT_SECRET)
        try:
            server.wait_ready()
            headers, show_id = asyncio.run(_setup(server.url, users, seats))
            kill_after = rng.uniform(0.3, 1.5)
            outcome = asyncio.run(_rush_until_killed(server.url, show_id, seats, headers, server, kill_after, rng, sig))
        finally:
            server.close()
        # restart on the same database: the service must come back with everything it confirmed
        restarted = ServerProcess(url, CINEMA_JWT_SECRET=JWT_SECRET)
        try:
            restarted.wait_ready()
            stored = asyncio.run(_stored(url, show_id))
        finally:
            restarted.terminate()
            restarted.close()
        live = [seat for seat, status in stored.values() if status == "booked"]
        report = CycleReport(
            cycle=cycle,
            killed_after=round(kill_after, 2),
            confirmed_bookings=len(outcome["booked"]),
            confirmed_cancels=len(outcome["cancelled"]),
            unanswered=outcome["unanswered"],
            lost=sorted(
                b
                for b in outcome["booked"]
                if b not in outcome["cancelled"] | outcome["uncertain"] and stored.get(b, (0, ""))[1] != "booked"
            ),
            resurrected=sorted(b for b in outcome["cancelled"] if stored.get(b, (0, ""))[1] != "cancelled"),
            seats_twice=sorted(seat for seat, n in Counter(live).items() if n > 1),
            over_capacity=len(live) > seats,
            unexpected_statuses={s: n for s, n in outcome["statuses"].items() if s not in (200, 201, 404, 409)},
            exit_code=outcome["exit_code"],
            expected_exit_code=-signal.SIGKILL if sig == signal.SIGKILL else 0,
        )
        reports.append(report)
        if log:
            print(
                f"cycle {cycle:3}: killed after {report.killed_after:.2f}s, {report.confirmed_bookings} bookings and "
                f"{report.confirmed_cancels} cancels confirmed, {report.unanswered} unanswered; lost "
                f"{len(report.lost)}, double {len(report.seats_twice)} -> {'OK' if report.ok else 'FAILED'}",
                flush=True,
            )
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.testing.crash", description=__doc__)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cinema-crash-") as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{scratch}/crash.db"
        reports = run_cycles(url, args.cycles, seed=args.seed)
    summary = {
        "cycles": len(reports),
        "database": url.split(":")[0],
        "confirmed_bookings": sum(r.confirmed_bookings for r in reports),
        "confirmed_cancels": sum(r.confirmed_cancels for r in reports),
        "lost": sum(len(r.lost) for r in reports),
        "resurrected_cancels": sum(len(r.resurrected) for r in reports),
        "seats_twice": sum(len(r.seats_twice) for r in reports),
        "over_capacity": sum(r.over_capacity for r in reports),
        "failed_cycles": sum(not r.ok for r in reports),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(
        f"soak: {summary['cycles']} kill -9 cycles on {summary['database']}: {summary['confirmed_bookings']} bookings "
        f"and {summary['confirmed_cancels']} cancels confirmed; {summary['lost']} lost, {summary['seats_twice']} "
        f"double, {summary['resurrected_cancels']} cancels undone, {summary['over_capacity']} over capacity "
        f"({summary['seconds']} s)"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=2)
    return 0 if summary["failed_cycles"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("CINEMA_BCRYPT_ROUNDS", "4")
    sys.exit(main())
