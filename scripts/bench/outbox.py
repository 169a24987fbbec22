"""Benchmark: what the outbox and a webhook cost the engine's durable bookings, measured in one run.

One process books through the real engine and journal (every call returns after its commit), with the real
delivery loop beside it, as `cinema serve` runs them. Rounds of a few seconds each alternate, in a shuffled
order within each cycle, between: the journal writing no events (`GroupCommitJournal.outbox = False`, for this
measurement only), events written but no hook, a hook whose receiver answers 200 at once, and a hook whose
receiver hangs (holding each delivery until the request times out). Receivers are separate processes on
loopback (`python -m scripts.bench.outbox --receive PORT [--hang S]`), so their work is not the service's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from engine.service import BookingEngine
from scripts.bench.engine import ScratchDatabase
from scripts.testing.server_process import ROOT, free_port
from storage.database import open_engine
from storage.journal import GroupCommitJournal
from storage.repository import Repository
from web.hooks.delivery import Deliverer
from web.settings import Settings

MODES = ("no events written", "events, no hook", "a hook answering 200", "a hook that hangs")
SHOWS = 100
SEATS_PER_SHOW = 5000
IN_FLIGHT = 500


@dataclass
class Round:
    mode: str
    bookings: int
    seconds: float
    p99_ms: float
    delivered: int  # events the hook's receiver acknowledged during the round

    @property
    def per_second(self) -> float:
        return self.bookings / self.seconds


@dataclass
class BackendFigures:
    backend: str
    rounds: list[Round] = field(default_factory=list)

    def of(self, mode: str) -> list[Round]:
        return [r for r in self.rounds if r.mode == mode]


def receiver(port: int, hang: float) -> None:
    """A receiver process: answers 200, after `hang` seconds when given."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if hang:
            await asyncio.sleep(hang)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_receiver(hang: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [sys.executable, "-m", "scripts.bench.outbox", "--receive", str(port), "--hang", str(hang)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}/hook"


async def wait_listening(url: str) -> None:
    host, port = url.split("//")[1].split("/")[0].split(":")
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"receiver at {url} never listened")


async def measure_backend(backend: str, postgres_url: str | None, cycles: int, seconds: float) -> BackendFigures:
    figures = BackendFigures(backend)
    ok, ok_url = start_receiver(0)
    hanging, hanging_url = start_receiver(30)
    try:
        await wait_listening(ok_url)
        await wait_listening(hanging_url)
        async with ScratchDatabase(backend, postgres_url) as url:
            database = open_engine(url)
            repository = Repository(database)
            user = await repository.create_user(f"bench-{uuid.uuid4().hex[:6]}", "b@example.com", "x" * 60)
            movie = await repository.create_movie("Outbox", 100)
            journal = GroupCommitJournal(database, max_batch=1000, max_queue=20_000)
            journal.start()
            booking = BookingEngine(repository, journal)
            settings = Settings(database_url=url, webhook_allow_private=True, webhook_timeout_seconds=10.0)
            deliverer = Deliverer(settings, "bench", 5.0)
            deliverer.start()
            coin = random.Random(26)
            try:
                for cycle in range(cycles):
                    order = list(MODES)
                    coin.shuffle(order)
                    for mode in order:
                        hook_url = {MODES[2]: ok_url, MODES[3]: hanging_url}.get(mode)
                        figure = await _round(
                            mode, hook_url, repository, booking, journal, deliverer, user.id, movie.id, seconds
                        )
                        figures.rounds.append(figure)
                        print(
                            f"outbox {backend:10} cycle {cycle + 1} {mode:22} {figure.per_second:>9,.0f} bookings/s "
                            f"p99 {figure.p99_ms:6.1f} ms  delivered {figure.delivered:,}",
                            flush=True,
                        )
            finally:
                await deliverer.close()
                await booking.close()
                await journal.close()
                await database.dispose()
    finally:
        for process in (ok, hanging):
            process.kill()
            process.wait()
    return figures


async def _round(
    mode: str,
    hook_url: str | None,
    repository: Repository,
    booking: BookingEngine,
    journal: GroupCommitJournal,
    deliverer: Deliverer,
    user_id: int,
    movie_id: int,
    seconds: float,
) -> Round:
    """Fresh shows (actors loaded before the clock starts), the round's hook registered, then `seconds` of
    bookings from IN_FLIGHT callers; afterwards the hook and its backlog are deleted, outside the clock."""
    when = datetime.now(UTC) + timedelta(days=1)
    show_ids = [(await repository.create_show(movie_id, "O", when, SEATS_PER_SHOW)).id for _ in range(SHOWS)]
    for show_id in show_ids:
        await booking.book(show_id, user_id, 0)  # a refusal that loads the actor
    journal.outbox = mode != MODES[0]
    hook = None
    if hook_url is not None:
        hook = await deliverer.store.create(hook_url, ["booking.created"], "bench", "whsec_bench")
        await asyncio.sleep(1.5)  # the delivery loop takes the hook's lease before the clock starts
    delivered_before = deliverer.stats.delivered
    latencies: list[float] = []
    next_seat = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal next_seat
        while time.perf_counter() < deadline:
            n = next_seat
            next_seat += 1
            started = time.perf_counter()
            reply = await booking.book(show_ids[n % SHOWS], user_id, n // SHOWS + 1)
            latencies.append(time.perf_counter() - started)
            assert reply.booking is not None, reply.outcome

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    delivered = deliverer.stats.delivered - delivered_before
    if hook is not None:
        await deliverer.store.delete(hook.id)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return Round(mode, len(latencies), elapsed, p99, delivered)


def run(backends: list[str], postgres_url: str | None, cycles: int, seconds: float) -> list[BackendFigures]:
    return [asyncio.run(measure_backend(b, postgres_url, cycles, seconds)) for b in backends]


def spread(values: list[float], spec: str, unit: str = "") -> str:
    return f"{statistics.median(values):{spec}}{unit} ({min(values):{spec}}-{max(values):{spec}})"


def section(results: list[BackendFigures], cycles: int, seconds: float, stamp: str) -> str:
    lines = [
        "## Outbox and webhooks: what they cost durable bookings",
        "",
        stamp,
        "",
        f"The engine and journal as `cinema serve` runs them (group commit, {IN_FLIGHT} calls in flight over",
        f"{SHOWS} shows, each call answered after its commit), with the webhook delivery loop beside them. One run",
        f"per backend: {cycles} cycles of {len(MODES)} rounds of {seconds:g} s, the modes in a shuffled order each",
        "cycle; each cell is the median (min-max) of the rounds. *No events written* turns the journal's outbox",
        "statement off (for this measurement only); *events, no hook* is the service as shipped without webhooks;",
        "the receivers are separate processes on loopback, one answering 200 at once, one holding every request",
        "for 30 s (the delivery loop's 10 s timeout ends each). *Delivered*: events the receiver acknowledged",
        "during a round (one request at a time per show, oldest first, at most 4 per hook).",
        "",
        "| backend | mode | bookings/s | vs events, no hook | booking p99 | delivered per round |",
        "|---|---|---|---|---|---|",
    ]
    for figures in results:
        base = statistics.median(r.per_second for r in figures.of(MODES[1]))
        for mode in MODES:
            rounds = figures.of(mode)
            ratio = [r.per_second / base for r in rounds]
            lines.append(
                f"| {figures.backend} | {mode} | {spread([r.per_second for r in rounds], ',.0f')} | "
                f"{spread(ratio, '.2f')} | {spread([r.p99_ms for r in rounds], '.1f', ' ms')} | "
                f"{statistics.median(r.delivered for r in rounds):,.0f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receive", type=int, help="run a receiver on this port")
    parser.add_argument("--hang", type=float, default=0.0)
    args = parser.parse_args()
    if args.receive:
        receiver(args.receive, args.hang)
