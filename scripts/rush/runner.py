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
import json
import multiprocessing
import os
import re
import sys
import threading
import time
import uuid
from typing import Any

import aiohttp

from scripts.rush.load import KINDS, PATTERNS, LoadPlan, Shared, cpu_seconds, process_main
from scripts.rush.setup import (
    MAX_USERS,
    RUSH_MOVIE,
    RushConfig,
    RushError,
    Target,
    create_show,
    find_show,
    log_in,
    login_storm,
    plan_users,
    reach,
    say,
    seat_map,
    seats_per_user,
    sign_up,
)
from scripts.rush.summary import rate_text, render, summarize, verify

__all__ = ["RUSH_MOVIE", "RushConfig", "RushError", "render", "run", "rush"]


DEFAULT_MIX = "single=1"
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m)?")


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
        for pipe, process in zip(pipes, processes, strict=True):
            try:
                ready = pipe.poll(120) and pipe.recv() == "ready"
            except (EOFError, OSError):
                ready = False
            if not ready:
                raise RushError(f"load process {process.name} did not start (exit code {process.exitcode})")
        start = time.monotonic() + 0.2
        for pipe in pipes:
            pipe.send(start)
        stop = threading.Event()
        drawer = threading.Thread(target=_draw_progress, args=(shared, expected, start, stop), daemon=True)
        if progress and sys.stderr.isatty():
            drawer.start()
        results = []
        try:
            for pipe, process in zip(pipes, processes, strict=True):
                try:
                    result = pipe.recv()
                except (EOFError, OSError):
                    raise RushError(f"load process {process.name} died (exit code {process.exitcode})") from None
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
        planning = await seat_map(session, config.base_url, target.show_id)
        taken = len(planning["booked"]) + len(planning["held"]) + len(planning["blocked"])
        plan_users(config, target.total_seats - taken, seats_per_user(planning))
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
            f"open loop, {rate_text(config.rate)} arrivals/s for {plans[0].duration:g} s"
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


# -- command line --------------------------------------------------------------------------------------------


def parse_seconds(text: str) -> float:
    match = DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 10, 10s, 500ms or 2m)")
    seconds = float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match[2]]
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
    parser.add_argument(
        "--users",
        type=int,
        default=20,
        help="users to sign up or reuse, at least (more when the free seats need them under the per-customer cap)",
    )
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
    if args.concurrency > 10_000 or args.procs > 64 or args.users > MAX_USERS:
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
    from scripts.rush import report as rush_report

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
