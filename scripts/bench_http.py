"""Benchmarks 2 and 3: the booking endpoint under wrk beside a bare aiohttp handler, and a login storm.

Both servers run as their own processes on this machine, measured in the same run with the same wrk script
(one wrk thread, 200 connections, a different seat on every request).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from scripts.server_process import ServerProcess, free_port
from storage.database import open_engine
from storage.migrate import upgrade
from storage.repository import Repository
from web.passwords import PasswordHasher

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "scripts" / "book.lua"
SEATS_PER_SHOW = 10_000
SHOWS = 30
USER, PASSWORD = "bench-user", "bench-password"


@dataclass
class WrkFigure:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non_2xx: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@dataclass
class HttpFigures:
    bare: WrkFigure
    real: WrkFigure
    storm: WrkFigure
    logins: int
    login_p99_ms: float
    loop: str


def wrk(
    label: str, base_url: str, token: str, shows: list[int], start: int, seconds: int, connections: int = 200
) -> WrkFigure:
    return _collect(_start_wrk(base_url, token, shows, start, seconds, connections), label)


async def prepare(url: str) -> list[int]:
    engine = open_engine(url)
    await upgrade(engine)
    repository = Repository(engine)
    hasher = PasswordHasher(12)
    await repository.create_user(USER, "bench@example.com", await hasher.hash(PASSWORD))
    for n in range(200):
        await repository.create_user(f"storm-{n}", "storm@example.com", await hasher.hash(PASSWORD))
    hasher.close()
    movie = await repository.create_movie("Benchmark", 120)
    shows = [
        (await repository.create_show(movie, f"S{n}", datetime.now(UTC) + timedelta(days=1), SEATS_PER_SHOW)).id
        for n in range(SHOWS)
    ]
    await engine.dispose()
    return shows


async def login(session: aiohttp.ClientSession, base: str, username: str) -> tuple[str, float]:
    started = time.perf_counter()
    async with session.post(f"{base}/login", json={"username": username, "password": PASSWORD}) as response:
        body = await response.json()
        assert response.status == 200, body
    return body["access"], time.perf_counter() - started


async def login_storm(base: str, count: int) -> list[float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=count)) as session:
        await asyncio.sleep(2)  # let wrk reach its steady state first
        results = await asyncio.gather(*(login(session, base, f"storm-{n}") for n in range(count)))
    return sorted(seconds for _, seconds in results)


def run(seconds: int = 10, loop: str = "uvloop") -> HttpFigures:
    with tempfile.TemporaryDirectory(prefix="cinema-bench-http-") as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        shows = asyncio.run(prepare(url))
        server = ServerProcess(url, CINEMA_BCRYPT_ROUNDS="12", CINEMA_EVENT_LOOP=loop)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "scripts.bare_server", "--port", str(bare_port)], cwd=ROOT)
        try:
            server.wait_ready()
            time.sleep(1)
            token = asyncio.run(_token(server.url))
            used = 0
            bare_figure = wrk("bare aiohttp handler", f"http://127.0.0.1:{bare_port}", token, shows, 0, seconds)
            real_figure = wrk(f"POST /shows/{{id}}/book/ ({loop})", server.url, token, shows, used, seconds)
            used += real_figure.requests + 1000
            storm_seconds = max(seconds, 20)
            wrk_process = _start_wrk(server.url, token, shows, used, storm_seconds)
            logins = asyncio.run(login_storm(server.url, 200))
            storm_figure = _collect(wrk_process, "book during 200 concurrent logins")
            login_p99 = logins[int(0.99 * (len(logins) - 1))] * 1000
            print(f"http  200 concurrent logins: p99 {login_p99:,.0f} ms, all {logins[-1]:.1f} s", flush=True)
        finally:
            bare.terminate()
            bare.wait(10)
            server.terminate()
            server.close()
    return HttpFigures(bare_figure, real_figure, storm_figure, 200, login_p99, loop)


async def _token(base: str) -> str:
    async with aiohttp.ClientSession() as session:
        token, _ = await login(session, base, USER)
    return token


def _start_wrk(
    base_url: str, token: str, shows: list[int], start: int, seconds: int, connections: int = 200
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_SHOWS": ",".join(map(str, shows)),
        "BENCH_SEATS": str(SEATS_PER_SHOW),
        "BENCH_START": str(start),
    }
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), base_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _collect(process: subprocess.Popen[str], label: str) -> WrkFigure:
    """Wait for a wrk run and read the line scripts/book.lua prints at its end."""
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out + err
    line = re.search(r"^BENCH (.*)$", out, re.M)
    assert line, out + err
    values = dict(item.split("=") for item in line.group(1).split())
    figure = WrkFigure(
        label,
        int(values["requests"]),
        float(values["seconds"]),
        float(values["p50"]),
        float(values["p90"]),
        float(values["p99"]),
        float(values["max"]),
        int(values["errors"]),
        int(values["status_errors"]),
    )
    print(
        f"http  {label:34} {figure.per_second:>8,.0f} req/s  p50 {figure.p50_ms:.1f} ms  p99 {figure.p99_ms:.1f} ms"
        f"  non-2xx {figure.non_2xx}  errors {figure.errors}",
        flush=True,
    )
    return figure


if __name__ == "__main__":
    run(int(os.environ.get("BENCH_SECONDS", "10")), os.environ.get("CINEMA_EVENT_LOOP", "uvloop"))
