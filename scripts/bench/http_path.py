"""The HTTP benchmarks: the booking endpoint under wrk beside a bare handler, the login storm, and A/B runs.

Every comparison is made of alternating pairs in one run (the machine is shared and noisy, so only figures
measured side by side mean much): wrk with one thread, a token on every request and a seat never booked before
(scripts/bench/book.lua). Servers are separate processes on this machine, beside wrk.

`python -m scripts.bench.http_path --before REV [--after REV2]` measures the booking path of git revision REV against
the working tree (or REV2) the same way: how each change's effect in the history was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from scripts.testing.server_process import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "scripts" / "book.lua"
SEATS_PER_SHOW = 10_000
MAX_RATE = 25_000  # requests/s one server could reach here: enough fresh seats are prepared for it
USER, PASSWORD = "bench-user", "bench-password"
STORM_USERS = 200

# Run inside the tree being measured (its own storage code), so an older revision gets its own schema.
PREPARE = """
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from storage.database import open_engine
from storage.migrate import upgrade
from storage.repository import Repository
from web.security.passwords import PasswordHasher

async def main(url, shows, storm):
    engine = open_engine(url)
    await upgrade(engine)
    repository = Repository(engine)
    hasher = PasswordHasher(12)
    digest = await hasher.hash(sys.argv[4])  # one hash for every user: hashing 200 at cost 12 takes a minute
    hasher.close()
    await repository.create_user(sys.argv[5], "bench@example.com", digest)
    for n in range(storm):
        await repository.create_user(f"storm-{n}", "storm@example.com", digest)
    movie = await repository.create_movie("Benchmark", 120)
    when = datetime.now(UTC) + timedelta(days=1)  # a show that has started takes no bookings
    ids = [(await repository.create_show(movie.id, f"S{n}", when, SEATS)).id for n in range(shows)]
    await engine.dispose()
    print(json.dumps(ids))

SEATS = int(sys.argv[6])
asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


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
    cpu_seconds: float = 0.0  # the server process's CPU time (all threads) during the run, when known
    loop_cpu_seconds: float = 0.0  # the part of it spent by the main thread, which runs the event loop

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """Server CPU per request: less disturbed by other work on the machine than requests/s."""
        return self.cpu_seconds / max(self.requests, 1) * 1e6

    @property
    def loop_cpu_us(self) -> float:
        return self.loop_cpu_seconds / max(self.requests, 1) * 1e6


@dataclass
class Target:
    """A server under wrk, with the token and shows it books with; `used` moves past every seat already sent."""

    label: str
    url: str
    token: str = "none"
    shows: tuple[int, ...] = (1,)
    used: int = 0
    pid: int | None = None  # the server process, for its CPU time
    prefix: str = ""  # before /shows/{id}/book/: scripts/bench/ladder.py's rungs are routes beside the real one


@dataclass(frozen=True)
class Spread:
    low: float
    median: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        assert values
        return cls(min(values), statistics.median(values), max(values))

    def format(self, spec: str, unit: str = "") -> str:
        return f"{self.median:{spec}}{unit} ({self.low:{spec}}-{self.high:{spec}})"


@dataclass
class Pairs:
    """Alternating runs of two targets at one connection count; `ratios` are b/a per pair."""

    connections: int
    a: list[WrkFigure]
    b: list[WrkFigure]

    @property
    def ratios(self) -> Spread:
        return Spread.of([b.per_second / a.per_second for a, b in zip(self.a, self.b, strict=True)])

    @staticmethod
    def rates(figures: list[WrkFigure]) -> Spread:
        return Spread.of([f.per_second for f in figures])

    @staticmethod
    def p99(figures: list[WrkFigure]) -> Spread:
        return Spread.of([f.p99_ms for f in figures])

    @staticmethod
    def cpu(figures: list[WrkFigure]) -> Spread:
        return Spread.of([f.cpu_us for f in figures])


@dataclass
class StormFigures:
    pairs: Pairs  # a: booking alone, b: booking while the logins run
    login_seconds: list[float]  # per storm: until the last of its logins was answered
    login_p99_ms: float


def measure(target: Target, seconds: int, connections: int) -> WrkFigure:
    cpu, loop = cpu_seconds(target.pid), cpu_seconds(target.pid, target.pid)
    figure = _collect(_start_wrk(target, seconds, connections), target.label)
    figure.cpu_seconds = cpu_seconds(target.pid) - cpu
    figure.loop_cpu_seconds = cpu_seconds(target.pid, target.pid) - loop
    show(figure)
    move_past(target, figure, connections)
    return figure


def move_past(target: Target, figure: WrkFigure, connections: int) -> None:
    """Past every seat the run sent: requests in flight at its end are not counted in `figure`."""
    target.used += figure.requests + 2 * connections


def show(figure: WrkFigure) -> None:
    print(
        f"http  {figure.label:34} {figure.per_second:>8,.0f} req/s  p50 {figure.p50_ms:.1f} ms  "
        f"p99 {figure.p99_ms:.1f} ms  non-2xx {figure.non_2xx}  errors {figure.errors}"
        + (f"  server CPU {figure.cpu_us:.1f} µs/request" if figure.cpu_seconds else ""),
        flush=True,
    )


def cpu_seconds(pid: int | None, thread: int | None = None) -> float:
    """User and system CPU time of a process so far, or of one of its threads (0 when unknown)."""
    if pid is None:
        return 0.0
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alternate(a: Target, b: Target, pairs: int, seconds: int, connections: int) -> Pairs:
    """`pairs` runs of each, alternating which goes first so that neither always runs on a warmer machine."""
    result = Pairs(connections, [], [])
    for n in range(pairs):
        for target in (a, b) if n % 2 == 0 else (b, a):
            (result.a if target is a else result.b).append(measure(target, seconds, connections))
    cpu = Spread.of([y.cpu_us / x.cpu_us for x, y in zip(result.a, result.b, strict=True)]) if a.pid else None
    print(
        f"http  {connections} connections: {b.label} / {a.label} = {result.ratios.format('.2f')}; "
        f"p99 {result.p99(result.b).format('.1f', ' ms')} vs {result.p99(result.a).format('.1f', ' ms')}"
        + (f"; server CPU per request {cpu.format('.2f')} times" if cpu else ""),
        flush=True,
    )
    return result


def shows_needed(seconds: int, runs: int) -> int:
    return -(-MAX_RATE * seconds * runs // SEATS_PER_SHOW) + 1


@contextmanager
def service(
    label: str, shows: int, root: Path = ROOT, loop: str = "uvloop", module: str = "scripts.cli", **env: str
) -> Iterator[Target]:
    """A prepared database and a `cinema serve` process of the tree at `root` (or `module serve`), logged in as
    the bench user; `env`: more CINEMA_* settings for the server."""
    with tempfile.TemporaryDirectory(prefix="cinema-bench-http-") as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        prepared = subprocess.run(
            [sys.executable, "-c", PREPARE, url, str(shows), str(STORM_USERS), PASSWORD, USER, str(SEATS_PER_SHOW)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        show_ids = tuple(json.loads(prepared.stdout.splitlines()[-1]))
        # wrk and the login storm all come from 127.0.0.1: past the per-address connection bound otherwise.
        env = {"CINEMA_MAX_CONNECTIONS_PER_SOURCE": "1024", **env}
        server = ServerProcess(url, root=root, module=module, CINEMA_BCRYPT_ROUNDS="12", CINEMA_EVENT_LOOP=loop, **env)
        try:
            server.wait_ready()
            token, _ = asyncio.run(_login_once(server.url, USER))
            target = Target(label, server.url, token, show_ids, pid=server.process.pid)
            warm_up(target)
            yield target
        finally:
            try:
                server.terminate()
            finally:
                server.close()  # kills it if it did not stop in time


@contextmanager
def bare_handler(
    label: str = "bare handler (uvloop, orjson)", module: str = "scripts.bench.bare_server", *args: str
) -> Iterator[Target]:
    """The bare handler's process (`module`, given `--port N` after `args`)."""
    port = free_port()
    command = [sys.executable, "-m", module, *args, "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        target = Target(label, f"http://127.0.0.1:{port}", pid=process.pid)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "the bare handler did not start"
                time.sleep(0.1)
        yield target
    finally:
        process.terminate()
        process.wait(10)


def warm_up(target: Target) -> None:
    """Load the shows' actors and warm the caches: start-up is not what is measured."""
    measure(target, 2, 50)


def run(seconds: int = 8, pairs: int = 5, connections: tuple[int, ...] = (100, 200)) -> list[Pairs]:
    """The booking path (b) against the bare handler (a)."""
    shows = shows_needed(seconds, pairs * len(connections))
    with ExitStack() as stack:
        book = stack.enter_context(service("POST /shows/{id}/book/", shows))
        bare = stack.enter_context(bare_handler())
        return [alternate(bare, book, pairs, seconds, c) for c in connections]


def storm(seconds: int = 8, pairs: int = 3, connections: int = 100) -> StormFigures:
    """Booking alone (a) against booking while STORM_USERS logins (bcrypt cost 12) run at once (b)."""
    with service("book", shows_needed(seconds, 2 * pairs)) as target:
        result = Pairs(connections, [], [])
        totals: list[float] = []
        logins: list[float] = []
        for n in range(pairs):
            for stormy in (False, True) if n % 2 == 0 else (True, False):
                if not stormy:
                    result.a.append(measure(target, seconds, connections))
                    continue
                process = _start_wrk(target, seconds, connections)
                started = time.perf_counter()
                times = asyncio.run(login_storm(target.url, STORM_USERS))  # waits for every login
                figure = _collect(process, "book during the login storm")
                show(figure)
                move_past(target, figure, connections)
                result.b.append(figure)
                totals.append(time.perf_counter() - started)
                logins += times
        logins.sort()
        login_p99 = logins[int(0.99 * (len(logins) - 1))] * 1000
    print(
        f"storm booking during/alone = {result.ratios.format('.2f')}; {STORM_USERS} logins took "
        f"{Spread.of(totals).format('.0f', ' s')}, login p99 {login_p99:,.0f} ms",
        flush=True,
    )
    return StormFigures(result, totals, login_p99)


def compare_revisions(
    before: str, after: str | None, seconds: int, pairs: int, connections: tuple[int, ...]
) -> list[Pairs]:
    """The booking path of git revision `before` (a) against `after` or the working tree (b)."""
    shows = shows_needed(seconds, pairs * len(connections))
    with ExitStack() as stack:
        old = stack.enter_context(service(f"book @ {before}", shows, stack.enter_context(checkout(before))))
        new_root = stack.enter_context(checkout(after)) if after else ROOT
        new = stack.enter_context(service(f"book @ {after or 'working tree'}", shows, new_root))
        results = [alternate(old, new, pairs, seconds, c) for c in connections]
        for target in (old, new):
            print(f"http  {target.label}: {journal_figures(target.url)}", flush=True)
        return results


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """The files of a git revision in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="cinema-rev-") as tree:
        archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        yield Path(tree)


def journal_figures(base: str) -> str:
    """Mean batch size and commit time from the server's /metrics: where the commit's latency goes."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    value = {m[1]: float(m[2]) for m in re.finditer(r"^(cinema_journal_\w+?_(?:sum|count)) (\S+)$", text, re.M)}
    batches = value["cinema_journal_commit_seconds_count"]
    return (
        f"{batches:,.0f} commits, {value['cinema_journal_batch_records_sum'] / batches:.1f} records "
        f"and {value['cinema_journal_commit_seconds_sum'] / batches * 1000:.2f} ms each on average"
    )


async def login(session: aiohttp.ClientSession, base: str, username: str) -> tuple[str, float]:
    started = time.perf_counter()
    async with session.post(f"{base}/login", json={"username": username, "password": PASSWORD}) as response:
        body = await response.json()
        assert response.status == 200, body
    return body["access"], time.perf_counter() - started


async def login_storm(base: str, count: int) -> list[float]:
    """`count` logins at once, fired one second into a wrk run; the seconds each took."""
    await asyncio.sleep(1)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=count), timeout=timeout) as session:
        results = await asyncio.gather(*(login(session, base, f"storm-{n}") for n in range(count)))
    return [seconds for _, seconds in results]


async def _login_once(base: str, username: str) -> tuple[str, float]:
    async with aiohttp.ClientSession() as session:
        return await login(session, base, username)


def _start_wrk(target: Target, seconds: int, connections: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BENCH_TOKEN": target.token,
        "BENCH_SHOWS": ",".join(map(str, target.shows)),
        "BENCH_SEATS": str(SEATS_PER_SHOW),
        "BENCH_START": str(target.used),
        "BENCH_PREFIX": target.prefix,
    }
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), target.url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _collect(process: subprocess.Popen[str], label: str) -> WrkFigure:
    """Wait for a wrk run and read the line scripts/bench/book.lua prints at its end."""
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
    return figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.http_path", description=__doc__)
    parser.add_argument("--before", help="a git revision: measure its booking path against the working tree")
    parser.add_argument("--after", help="with --before: a git revision instead of the working tree")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--connections", default="100,200", help="comma-separated wrk connection counts")
    args = parser.parse_args(argv)
    connections = tuple(int(c) for c in args.connections.split(","))
    if args.before:
        compare_revisions(args.before, args.after, args.seconds, args.pairs, connections)
    else:
        run(args.seconds, args.pairs, connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
