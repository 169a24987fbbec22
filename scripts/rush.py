"""`cinema rush`: a seat-rush load tester that drives any running service over HTTP and checks the invariants.

Phases, reported apart: setup (reach the service, the show, users: not timed), an optional login storm (every
user logs in at once), warm-up (seat-map reads on the same connections: it opens them and loads the show
without spending the seats the rush measures), the rush (until the show is full) and the sold-out tail (the
409s after the last seat). Open loop (`--rate`) measures from each arrival's intended start; the closed loop
(no `--rate`) keeps `--concurrency` requests in flight. `--procs` load processes (default: every core)
merge their HDR histograms exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from scripts.rush_load import KINDS, PATTERNS, LoadPlan, Shared, cpu_seconds, histogram, process_main

RUSH_MOVIE = "cinema rush (load tests)"  # every rush that creates a show adds it to this one movie
DEFAULT_MIX = "single=1"
PLOT_POINTS = 100
BUSY_CLIENT = 0.85  # a load process busier than this share of a core is likely the limit, not the server


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


@dataclass
class Verdict:
    seats_booked: int  # on the show, from its seat map, whoever booked them
    by_this_rush: int
    total_seats: int
    seats_twice: list[int]
    over_capacity: bool
    lost: list[int]  # answered 201 (and not cancelled) but not booked on the server
    ghost_cancels: list[int]  # answered 200 on cancel but still booked
    missing_from_map: list[int]  # seats this rush holds that the seat map does not show booked
    available_matches: bool

    @property
    def ok(self) -> bool:
        return not (
            self.seats_twice or self.over_capacity or self.lost or self.ghost_cancels or self.missing_from_map
        ) and (self.available_matches)


class RushError(Exception):
    pass


def say(config: RushConfig, message: str) -> None:
    if config.progress:
        print(f"rush: {message}", file=sys.stderr, flush=True)


# -- setup ---------------------------------------------------------------------------------------------------


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kwargs) as response:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
        return response.status, body


def _detail(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body)
    return f"{body.get('detail', body)}" + (f" {body['errors']}" if body.get("errors") else "")


async def reach(session: aiohttp.ClientSession, base: str) -> None:
    try:
        status, body = await _json(session, "GET", f"{base}/movies/", timeout=aiohttp.ClientTimeout(total=10))
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise RushError(f"cannot reach {base}: {error or type(error).__name__}") from error
    if status != 200 or not isinstance(body, dict) or "results" not in body:
        raise RushError(f"{base} does not look like the cinema service (GET /movies/ answered {status})")


async def login(session: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    status, body = await _json(session, "POST", f"{base}/login", json={"username": username, "password": password})
    if status != 200:
        raise RushError(f"login as {username!r} failed: {status} {_detail(body)}")
    return body["access"]


async def find_show(session: aiohttp.ClientSession, base: str, show_id: int) -> Target:
    status, seat_map = await _json(session, "GET", f"{base}/shows/{show_id}/seats/")
    if status != 200:
        raise RushError(f"show {show_id} not found ({status} {_detail(seat_map)})")
    url: str | None = f"{base}/movies/"
    while url:
        _, page = await _json(session, "GET", url)
        for movie in page["results"]:
            _, detail = await _json(session, "GET", f"{base}/movies/{movie['id']}/shows/")
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
        status, movie = await _json(
            session, "POST", f"{base}/movies/", json={"title": RUSH_MOVIE, "duration_minutes": 120}, headers=headers
        )
        if status == 403:
            raise RushError(f"{config.admin_user!r} is not an admin (cinema create-admin makes one)")
        if status != 201:
            raise RushError(f"creating the movie failed: {status} {_detail(movie)}")
        movie_id = movie["id"]
    per_row = max(20, -(-config.seats // 100))  # rows of 20, or wider ones for big halls (at most 100 rows)
    rows = [
        {"label": _row_label(i), "seats": min(per_row, config.seats - per_row * i)}
        for i in range(-(-config.seats // per_row))
    ]
    status, show = await _json(
        session,
        "POST",
        f"{base}/movies/{movie_id}/shows/",
        json={"screen_name": "Rush", "date_time": "2030-01-01T20:00:00Z", "total_seats": config.seats, "rows": rows},
        headers=headers,
    )
    if status == 403:
        raise RushError(f"{config.admin_user!r} is not an admin (cinema create-admin makes one)")
    if status != 201:
        raise RushError(f"creating the show failed: {status} {_detail(show)}")
    return Target(show["id"], movie_id, show["total_seats"], True)


def _row_label(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]


async def _rush_movie(session: aiohttp.ClientSession, base: str) -> int | None:
    url: str | None = f"{base}/movies/"
    while url:
        _, page = await _json(session, "GET", url)
        for movie in page["results"]:
            if movie["title"] == RUSH_MOVIE:
                return movie["id"]
        url = page["next"]
    return None


async def sign_up(session: aiohttp.ClientSession, config: RushConfig) -> list[str]:
    gate = asyncio.Semaphore(16)
    names = [f"{config.user_prefix}-{index}" for index in range(config.users)]
    done = 0

    async def one(username: str) -> None:
        nonlocal done
        async with gate:
            status, body = await _json(
                session,
                "POST",
                f"{config.base_url}/signup",
                json={"username": username, "email": f"{username}@rush.invalid", "password": config.password},
            )
        if status not in (201, 409):
            raise RushError(f"signup of {username!r} failed: {status} {_detail(body)}")
        done += 1

    await asyncio.gather(*(one(name) for name in names))
    say(config, f"{done} users signed up or reused ({config.user_prefix}-0 .. {config.user_prefix}-{config.users - 1})")
    return names


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
            status, body = await _json(
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
    status, body = await _json(session, "GET", f"{base}/shows/{show_id}/seats/")
    if status != 200:
        raise RushError(f"reading the seat map failed: {status} {_detail(body)}")
    return body


# -- the load processes --------------------------------------------------------------------------------------


def split(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def run_processes(plans: list[LoadPlan], shared: Shared, progress: bool, expected: int) -> list[dict[str, Any]]:
    """Start one process per plan, give them one common start time, collect their results (blocking)."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for plan in plans:
        parent, child = context.Pipe()
        process = context.Process(target=process_main, args=(child, plan, shared), daemon=True)
        process.start()
        child.close()
        pipes.append(parent)
        processes.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(120) or pipe.recv() != "ready":
                raise RushError("a load process did not start")
        start = time.monotonic() + 0.2
        for pipe in pipes:
            pipe.send(start)
        stop = threading.Event()
        drawer = threading.Thread(target=_draw_progress, args=(shared, expected, start, stop), daemon=True)
        if progress and sys.stderr.isatty():
            drawer.start()
        results = []
        try:
            for pipe in pipes:
                result = pipe.recv()
                if isinstance(result, BaseException):
                    raise RushError(str(result))
                results.append(result)
        finally:
            stop.set()
            if drawer.is_alive():
                drawer.join()
                print(file=sys.stderr)
        return results
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()


def _draw_progress(shared: Shared, expected: int, start: float, stop: threading.Event) -> None:
    """A progress bar redrawn in place: only when stderr is a terminal."""
    while not stop.wait(0.25):
        done = sum(shared.done[:])
        seconds = max(1e-9, time.monotonic() - start)
        width = 30
        filled = int(width * min(1.0, done / max(1, expected)))
        booked = shared.filled.value
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{expected:,} {done / seconds:,.0f}/s"
            f" seats taken {booked:,}",
            end="",
            file=sys.stderr,
            flush=True,
        )


# -- merging and summing up ----------------------------------------------------------------------------------


def merge(encoded: list[bytes | None], digits: int = 3) -> HdrHistogram:
    merged = histogram(digits)
    for item in encoded:
        if item is not None:
            merged.add(HdrHistogram.decode(item))
    return merged


def latency_ms(hist: HdrHistogram) -> dict[str, float]:
    if hist.get_total_count() == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    values = {f"p{q}".replace(".", ""): hist.get_value_at_percentile(q) for q in (50, 90, 99, 99.9)}
    values["max"] = hist.get_max_value()
    return {name: round(micros / 1000, 2) for name, micros in values.items()}


def distribution(hist: HdrHistogram) -> list[list[float]]:
    """(percentile, ms) points for the latency distribution plot, denser towards the tail."""
    if hist.get_total_count() == 0:
        return []
    points = [0.0, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.99, 99.999, 100.0]
    return [[q, round(hist.get_value_at_percentile(q) / 1000, 3)] for q in points]


def timeline(results: list[dict[str, Any]], booked_before: int) -> dict[str, Any]:
    width = max(r["timeline"]["width"] for r in results)
    span = max(len(r["timeline"]["statuses"]) * r["timeline"]["width"] for r in results)
    while span / width > PLOT_POINTS:  # wider buckets for long runs: a plot needs ~100 points, not thousands
        width *= 2
    length = max(1, int(span / width + 0.999))
    statuses: list[Counter[int]] = [Counter() for _ in range(length)]
    hists: list[list[bytes | None]] = [[] for _ in range(length)]
    seats = [0] * length
    for result in results:
        line = result["timeline"]
        factor = round(width / line["width"])
        for index, counts in enumerate(line["statuses"]):
            statuses[min(length - 1, index // factor)].update(counts)
            hists[min(length - 1, index // factor)].append(line["hists"][index])
            seats[min(length - 1, index // factor)] += line["seats"][index]
    t, rates, p50, p99, booked = [], [], [], [], []
    per_status: dict[str, list[float]] = {str(s): [] for s in sorted({s for c in statuses for s in c})}
    taken = booked_before
    for index in range(length):
        merged = merge(hists[index], 2)
        t.append(round((index + 1) * width, 3))
        rates.append(round(sum(statuses[index].values()) / width, 1))
        for status, series in per_status.items():
            series.append(round(statuses[index].get(int(status), 0) / width, 1))
        count = merged.get_total_count()
        p50.append(round(merged.get_value_at_percentile(50) / 1000, 2) if count else None)
        p99.append(round(merged.get_value_at_percentile(99) / 1000, 2) if count else None)
        taken += seats[index]
        booked.append(taken)
    return {
        "width": width,
        "t": t,
        "requests_per_second": rates,
        "statuses": per_status,
        "p50_ms": p50,
        "p99_ms": p99,
        "seats_taken": booked,
        "seats_before": booked_before,
    }


def phase_figures(results: list[dict[str, Any]], phase: str, seconds: float) -> tuple[dict[str, Any], HdrHistogram]:
    hist = merge([r["phases"][phase]["hist"] for r in results])
    statuses: Counter[int] = Counter()
    for r in results:
        statuses.update({int(k): v for k, v in r["phases"][phase]["statuses"].items()})
    requests = sum(statuses.values())
    actions = sum(r["phases"][phase]["actions"] for r in results)
    figures = {
        "seconds": round(seconds, 3),
        "actions": actions,
        "requests": requests,
        "requests_per_second": round(requests / seconds, 1) if seconds > 0 else 0.0,
        "created_per_second": round(statuses.get(201, 0) / seconds, 1) if seconds > 0 else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": latency_ms(hist),
    }
    return figures, hist


async def verify(
    session: aiohttp.ClientSession,
    config: RushConfig,
    target: Target,
    headers: list[dict[str, str]],
    booked: dict[int, int],
    cancelled: set[int],
    uncertain: set[int],
    after: dict[str, Any],
) -> Verdict:
    """Read the outcome back through the API, as any client could, and check the invariants."""
    live: dict[int, int] = {}
    seats: list[int] = []
    for user_headers in headers:
        status, bookings = await _json(session, "GET", f"{config.base_url}/my-bookings/", headers=user_headers)
        if status != 200:
            raise RushError(f"reading bookings back failed: {status} {_detail(bookings)}")
        for booking in bookings:
            if booking["show"]["id"] == target.show_id and booking["status"] == "booked":
                live[booking["id"]] = booking["seat_number"]
                seats.append(booking["seat_number"])
    on_map = after["booked"]
    twice = sorted(
        {seat for seat, count in Counter(seats).items() if count > 1}
        | {seat for seat, count in Counter(on_map).items() if count > 1}
    )
    _, detail = await _json(session, "GET", f"{config.base_url}/movies/{target.movie_id}/shows/")
    available = next(s["available_seats"] for s in detail["shows"] if s["id"] == target.show_id)
    taken = len(set(on_map)) + len(after["held"]) + len(after["blocked"])
    return Verdict(
        seats_booked=len(set(on_map)),
        by_this_rush=len(set(seats)),
        total_seats=target.total_seats,
        seats_twice=twice,
        over_capacity=taken > target.total_seats,
        lost=sorted(b for b in booked if b not in cancelled | uncertain and b not in live),
        ghost_cancels=sorted(b for b in cancelled if b in live),
        missing_from_map=sorted(set(seats) - set(on_map)),
        available_matches=available <= target.total_seats - len(set(on_map)),
    )


async def rush(config: RushConfig) -> dict[str, Any]:
    if config.pattern not in PATTERNS:
        raise RushError(f"pattern must be one of {', '.join(PATTERNS)}")
    procs = config.procs or os.cpu_count() or 1
    setup_started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        await reach(session, config.base_url)
        if config.show is not None:
            target = await find_show(session, config.base_url, config.show)
            say(config, f"show {target.show_id} ({target.total_seats} seats)")
        else:
            target = await create_show(session, config)
            say(config, f"created show {target.show_id} ({target.total_seats} seats) of the movie {RUSH_MOVIE!r}")
        names = await sign_up(session, config)
        storm = None
        if config.login_storm:
            tokens, storm = await login_storm(session, config, names)
        else:
            tokens = await log_in(session, config, names)
        headers = [{"Authorization": f"Bearer {t}", "Content-Type": "application/json"} for t in tokens]
        before = await seat_map(session, config.base_url, target.show_id)
        setup_seconds = time.monotonic() - setup_started - (storm["seconds"] if storm else 0.0)
        free = target.total_seats - len(before["booked"]) - len(before["held"]) - len(before["blocked"])
        say(
            config,
            f"show {target.show_id}: {free} of {target.total_seats} seats free; setup took {setup_seconds:.1f} s",
        )

        plans, expected = _plans(config, target, headers, procs, free)
        shape = (
            f"open loop, {_rate_text(config.rate)} arrivals/s for {plans[0].duration:g} s"
            if config.rate
            else f"closed loop, {config.concurrency} in flight"
        )
        say(
            config,
            f"{shape}, {procs} load process{'es' if procs > 1 else ''}"
            + (f", warm-up {config.warmup:g} s" if config.warmup else ""),
        )
        context = multiprocessing.get_context("spawn")
        shared = Shared(context.Array("q", procs, lock=False), context.Value("q", 0), context.Value("d", 0.0))
        parent_cpu = cpu_seconds()
        results = await asyncio.to_thread(run_processes, plans, shared, config.progress, expected)
        parent_cpu = cpu_seconds() - parent_cpu
        after = await seat_map(session, config.base_url, target.show_id)
        booked: dict[int, int] = {}
        cancelled: set[int] = set()
        uncertain: set[int] = set()
        for result in results:
            booked.update(result["booked"])
            cancelled.update(result["cancelled"])
            uncertain.update(result["uncertain"])
        verdict = await verify(session, config, target, headers, booked, cancelled, uncertain, after)
    return summarize(config, target, procs, results, shared, before, after, verdict, setup_seconds, storm, parent_cpu)


def _plans(
    config: RushConfig, target: Target, headers: list[dict[str, str]], procs: int, free: int
) -> tuple[list[LoadPlan], int]:
    run_id = f"rush-{uuid.uuid4().hex[:12]}"
    mix = tuple((kind, weight) for kind, weight in config.mix.items() if weight > 0)
    if config.rate:
        duration = config.duration or 10.0
        low, high = config.rate
        expected = int((low + high) / 2 * duration)
    else:
        duration = config.duration or 600.0
        expected = config.requests
    plans = []
    for index in range(procs):
        concurrency = max(1, split(config.concurrency, procs, index))
        plans.append(
            LoadPlan(
                base_url=config.base_url,
                show_id=target.show_id,
                total_seats=target.total_seats,
                free_at_start=max(1, free),
                headers=headers,
                procs=procs,
                index=index,
                concurrency=concurrency,
                requests=split(config.requests, procs, index) if not config.rate else 0,
                duration=duration,
                rate_from=config.rate[0] / procs if config.rate else 0.0,
                rate_to=config.rate[1] / procs if config.rate else 0.0,
                warmup=config.warmup,
                mix=mix,
                pattern=config.pattern,
                hot_seats=config.hot_seats,
                seed=config.seed,
                timeout=config.timeout,
                retries=config.retries,
                run_id=run_id,
            )
        )
    return plans, expected


def _rate_text(rate: tuple[float, float] | None) -> str:
    if not rate:
        return "-"
    low, high = rate
    return f"{low:g}" if low == high else f"{low:g} -> {high:g}"


def summarize(
    config: RushConfig,
    target: Target,
    procs: int,
    results: list[dict[str, Any]],
    shared: Shared,
    before: dict[str, Any],
    after: dict[str, Any],
    verdict: Verdict,
    setup_seconds: float,
    storm: dict[str, Any] | None,
    parent_cpu: float,
) -> dict[str, Any]:
    rush_start = results[0]["rush_start"]
    end = max([r["last_answer"] for r in results] + [rush_start])
    sold_out = shared.sold_out_at.value
    rush_end = min(sold_out, end) if sold_out else end
    phases: dict[str, Any] = {"setup": {"seconds": round(setup_seconds, 3)}}
    if storm:
        phases["login_storm"] = storm
    if config.warmup:
        phases["warmup"], _ = phase_figures(results, "warmup", config.warmup)
    phases["rush"], rush_hist = phase_figures(results, "rush", rush_end - rush_start)
    phases["tail"], tail_hist = phase_figures(results, "tail", end - rush_end if sold_out else 0.0)
    everything = histogram()
    everything.add(rush_hist)
    everything.add(tail_hist)
    statuses: Counter[int] = Counter()
    kinds: dict[str, Counter[int]] = {}
    errors: Counter[str] = Counter()
    for r in results:
        for phase in ("rush", "tail"):
            statuses.update({int(k): v for k, v in r["phases"][phase]["statuses"].items()})
        for kind, counts in r["kinds"].items():
            kinds.setdefault(kind, Counter()).update(counts)
        errors.update(r["errors"])
    fives = sum(n for status, n in statuses.items() if status >= 500 and not (status == 503 and config.allow_503))
    cores = os.cpu_count() or 1
    busy = [round(r["cpu_seconds"] / max(1e-9, r["wall_seconds"]) * 100, 1) for r in results]
    rush_phase = phases["rush"]
    return {
        "version": 2,
        "base_url": config.base_url,
        "show_id": target.show_id,
        "mode": "open" if config.rate else "closed",
        "rate": list(config.rate) if config.rate else None,
        "duration": config.duration,
        "concurrency": config.concurrency,
        "procs": procs,
        "pattern": config.pattern,
        "mix": config.mix,
        "users": config.users,
        "retries": config.retries,
        "sold_out_after": round(sold_out - rush_start, 3) if sold_out else None,
        "phases": phases,
        # headline figures: the rush phase alone (the sold-out tail's 409s are in phases.tail)
        "requests": rush_phase["requests"] + phases["tail"]["requests"],
        "seconds": round(end - rush_start, 3),
        "requests_per_second": rush_phase["requests_per_second"],
        "created_per_second": rush_phase["created_per_second"],
        "latency_ms": rush_phase["latency_ms"],
        "latency_ms_all": latency_ms(everything),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "kinds": {kind: {str(k): v for k, v in sorted(c.items())} for kind, c in kinds.items()},
        "client_errors": dict(errors),
        "retried": sum(r["retried"] for r in results),
        "client": {
            "procs": procs,
            "cores": cores,
            "cpu_percent_per_process": busy,
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in results) + parent_cpu, 3),
            "likely_the_limit": any(b >= BUSY_CLIENT * 100 for b in busy),
        },
        "show": {
            "total_seats": target.total_seats,
            "booked_before": len(before["booked"]),
            "booked_after": len(after["booked"]),
            "held_after": len(after["held"]),
            "blocked": len(after["blocked"]),
            "rows": target.rows,
        },
        "timeline": timeline(results, len(before["booked"]) + len(before["held"]) + len(before["blocked"])),
        "distribution": distribution(everything),
        "histogram": base64.b64encode(everything.encode()).decode(),
        "invariants": {**asdict(verdict), "ok": verdict.ok},
        "server_errors": fives,
        "ok": verdict.ok and fives == 0,
    }


def render(summary: dict[str, Any]) -> str:
    phases = summary["phases"]
    rush_phase, tail = phases["rush"], phases["tail"]
    inv, show, client = summary["invariants"], summary["show"], summary["client"]

    def lat(figures: dict[str, Any]) -> str:
        lat = figures["latency_ms"]
        return f"{lat['p50']} / {lat['p90']} / {lat['p99']} / {lat['max']} ms"

    def statuses(figures: dict[str, Any]) -> str:
        return ", ".join(f"{k}: {v:,}" for k, v in figures["statuses"].items()) or "none"

    shape = (
        f"open loop at {_rate_text(tuple(summary['rate']))} arrivals/s (latency from each intended start)"
        if summary["mode"] == "open"
        else f"closed loop, {summary['concurrency']} in flight"
    )
    procs = f"{summary['procs']} load process" + ("es" if summary["procs"] > 1 else "")
    rows = [("load", f"{shape}; {procs}; {summary['pattern']} seats")]
    rows.append(("setup", f"{phases['setup']['seconds']:.1f} s (not timed)"))
    if "login_storm" in phases:
        storm = phases["login_storm"]
        rows.append(
            (
                "login storm",
                f"{storm['requests']} logins in {storm['seconds']:.2f} s; {statuses(storm)}; p99 "
                f"{storm['latency_ms']['p99']} ms",
            )
        )
    if "warmup" in phases:
        warm = phases["warmup"]
        rows.append(("warm-up (seat-map reads)", f"{warm['requests']:,} in {warm['seconds']:.1f} s; {statuses(warm)}"))
    rows += [
        (
            "rush",
            f"{rush_phase['requests']:,} requests in {rush_phase['seconds']:.2f} s: "
            f"{rush_phase['requests_per_second']:,.0f} requests/s "
            f"(201s alone: {rush_phase['created_per_second']:,.0f}/s)",
        ),
        ("rush statuses", statuses(rush_phase)),
        ("rush latency p50/p90/p99/max", lat(rush_phase)),
    ]
    if summary["sold_out_after"] is not None:
        rows += [
            ("sold out after", f"{summary['sold_out_after']:.2f} s"),
            (
                "sold-out tail (not in req/s)",
                f"{tail['requests']:,} requests in {tail['seconds']:.2f} s; {statuses(tail)}; latency {lat(tail)}",
            ),
        ]
    else:
        rows.append(("sold out", "no (the show still had seats at the end)"))
    if len(summary["kinds"]) > 1:
        rows.append(
            (
                "actions by kind",
                "; ".join(
                    f"{kind} " + ", ".join(f"{k}: {v:,}" for k, v in counts.items())
                    for kind, counts in summary["kinds"].items()
                ),
            )
        )
    rows += [
        ("client errors", ", ".join(f"{k}: {v}" for k, v in summary["client_errors"].items()) or "none"),
    ]
    if summary["retries"]:
        rows.append(("retries (Idempotency-Key)", f"{summary['retried']:,}"))
    busy = ", ".join(f"{b:.0f}%" for b in client["cpu_percent_per_process"])
    rows.append(
        (
            "client CPU",
            f"{busy} of a core per load process ({client['cores']} cores)"
            + (" - the CLIENT may be the limit" if client["likely_the_limit"] else ""),
        )
    )
    rows += [
        (
            "show",
            f"{summary['show_id']}: {inv['seats_booked']} of {inv['total_seats']} booked "
            f"({inv['by_this_rush']} by this rush's users, {show['booked_before']} before it), "
            f"{show['held_after']} held, {show['blocked']} blocked",
        ),
        ("any seat twice", ", ".join(map(str, inv["seats_twice"])) or "no"),
        ("over capacity", "YES" if inv["over_capacity"] else "no"),
        ("confirmed but lost", ", ".join(map(str, inv["lost"])) or "none"),
        ("verdict", "OK" if summary["ok"] else "FAILED"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


# -- command line --------------------------------------------------------------------------------------------


def parse_seconds(text: str) -> float:
    value = text.strip().lower()
    scale = 60.0 if value.endswith("m") and not value.endswith("ms") else 1.0
    value = value.removesuffix("ms") if value.endswith("ms") else value.rstrip("sm")
    try:
        seconds = float(value) * scale / (1000 if text.strip().lower().endswith("ms") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 10, 10s, 500ms or 2m)") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError("a duration must be above 0 and at most 1 hour")
    return seconds


def parse_rate(text: str) -> tuple[float, float]:
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (say 500, or 500:5000 for a ramp)") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or parts[0] < 0 or parts[1] <= 0 or max(parts) > 1_000_000:
        raise argparse.ArgumentTypeError("a rate is R or FROM:TO arrivals per second, above 0, at most 1,000,000")
    return parts[0], parts[1]


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise argparse.ArgumentTypeError(f"unknown action {kind!r}; one of {', '.join(KINDS)}")
        try:
            mix[kind] = float(weight or 1)
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight of {kind} is not a number: {weight!r}") from None
    if sum(mix.values()) <= 0 or any(w < 0 for w in mix.values()):
        raise argparse.ArgumentTypeError("weights must be 0 or more, and not all 0")
    return mix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the service")
    parser.add_argument("--show", type=int, help="rush this existing show instead of creating one (needs no admin)")
    parser.add_argument("--seats", type=int, default=100, help="seats of the show to create (rows of 20)")
    parser.add_argument("--admin-user", help="admin who creates the show (without --show)")
    parser.add_argument("--admin-password", help="that admin's password")
    parser.add_argument("--users", type=int, default=20, help="users to sign up or reuse")
    parser.add_argument("--rate", type=parse_rate, help="open loop: arrivals/s, or FROM:TO for a linear ramp")
    parser.add_argument("--duration", type=parse_seconds, help="how long (10s, 2m); open loop default 10s")
    parser.add_argument(
        "--requests", type=int, default=2000, help="closed loop: actions to send (0 = until --duration)"
    )
    parser.add_argument("--concurrency", type=int, default=100, help="connections (closed loop: requests in flight)")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="load processes (default: cores)")
    parser.add_argument("--warmup", type=parse_seconds, default=None, help="seat-map reads first, reported apart")
    parser.add_argument("--pattern", choices=PATTERNS, default="random", help="which seats single and multi ask for")
    parser.add_argument("--hot-seats", type=int, default=5, help="how many seats the 'hot' pattern fights over")
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=DEFAULT_MIX,
        help=f"weights of the actions {', '.join(KINDS)}, e.g. single=6,multi=2,best=1,hold=1,cancel=1",
    )
    parser.add_argument("--cancel-ratio", type=float, default=0.0, help="shorthand: add cancel with this share")
    parser.add_argument("--timeout", type=parse_seconds, default=30.0, help="seconds before a request counts as lost")
    parser.add_argument("--retries", type=int, default=0, help="re-sends after a timeout, with an Idempotency-Key")
    parser.add_argument("--login-storm", action="store_true", help="all users log in at once, as a phase of its own")
    parser.add_argument("--user-prefix", default="rush", help="usernames are PREFIX-0, PREFIX-1, ...")
    parser.add_argument("--password", default="rush-password", help="password of the rush users")
    parser.add_argument("--allow-503", action="store_true", help="count 503 (backpressure) as a clear answer")
    parser.add_argument("--seed", type=int, help="random seed for seat choice and the mix")
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON ('-' for stdout)")
    parser.add_argument("--report", metavar="PATH", help="write a self-contained HTML report (e.g. rush.html)")
    parser.add_argument(
        "--compare", nargs=2, metavar=("OLD", "NEW"), help="compare two --json files (no rush); --report plots them"
    )
    parser.add_argument("--quiet", action="store_true", help="no setup lines, no progress bar")


def config_from(args: argparse.Namespace) -> RushConfig:
    mix = dict(args.mix if isinstance(args.mix, dict) else parse_mix(args.mix))
    if args.cancel_ratio:
        if not 0 < args.cancel_ratio < 1:
            raise RushError("--cancel-ratio must be between 0 and 1")
        others = sum(w for k, w in mix.items() if k != "cancel")
        mix["cancel"] = others * args.cancel_ratio / (1 - args.cancel_ratio)
    for name in ("users", "seats", "concurrency", "procs"):
        if getattr(args, name) < 1:
            raise RushError(f"--{name} must be at least 1")
    if args.requests < 0 or args.retries < 0:
        raise RushError("--requests and --retries must be 0 or more")
    if not args.rate and not args.requests and not args.duration:
        raise RushError("--requests 0 needs a --duration")
    if args.concurrency > 10_000 or args.procs > 64 or args.users > 10_000:
        raise RushError("limits: --concurrency 10000, --procs 64, --users 10000")
    return RushConfig(
        base_url=args.url.rstrip("/"),
        users=args.users,
        seats=args.seats,
        show=args.show,
        requests=args.requests,
        duration=args.duration,
        rate=args.rate,
        concurrency=args.concurrency,
        procs=args.procs,
        pattern=args.pattern,
        hot_seats=args.hot_seats,
        mix=mix,
        timeout=args.timeout,
        retries=args.retries,
        warmup=args.warmup or 0.0,
        login_storm=args.login_storm,
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        user_prefix=args.user_prefix,
        password=args.password,
        allow_503=args.allow_503,
        progress=not args.quiet,
        seed=args.seed,
    )


def _run_loop(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def run(args: argparse.Namespace) -> int:
    from scripts import rush_report

    try:
        if args.compare:
            runs = [rush_report.load(path) for path in args.compare]
            print(rush_report.compare_text(runs))
            if args.report:
                rush_report.write(args.report, runs)
                print(f"rush: report written to {args.report}", file=sys.stderr)
            return 0
        summary = _run_loop(rush(config_from(args)))
    except (RushError, aiohttp.ClientError, OSError, ValueError) as error:
        print(f"cinema rush: {error}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(summary, indent=2))
    else:
        print(render(summary))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(summary, out, indent=2)
    if args.report:
        rush_report.write(args.report, [(args.report, summary)])
        print(f"rush: report written to {args.report}", file=sys.stderr)
    return 0 if summary["ok"] else 1
