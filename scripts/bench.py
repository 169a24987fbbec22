"""`cinema bench`: run the three benchmarks side by side and rewrite docs/BENCHMARKS.md with their figures.

1. engine: durable book decisions/s in one process, group commit vs commit per booking, SQLite (and PostgreSQL
   when CINEMA_TEST_POSTGRES_URL or --postgres is given), hot show and 1,000 shows;
2. http: the booking endpoint vs a bare aiohttp handler under wrk, 200 connections;
3. login storm: 200 concurrent logins (bcrypt cost 12) during the booking load.
Also the ceiling of `cinema rush` itself, against the bare handler (scripts/bench_rush.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from scripts import bench_engine, bench_http, bench_rush

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "BENCHMARKS.md"


def write_report(
    engine: list[bench_engine.EngineFigure],
    http: bench_http.HttpFigures,
    ceiling: list[bench_rush.CeilingFigure],
    seconds: float,
) -> str:
    cores = os.cpu_count()
    machine = f"{cores} cores, {platform.machine()}, Python {platform.python_version()}, {platform.system()}"
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `cinema bench` (scripts/bench.py) on {date}; machine: {machine}. Every figure in a table",
        "was measured in the same run as the figure it is compared with. Rerun with `cinema bench`.",
        "",
        "## 1. Engine: durable book decisions per second (one process)",
        "",
        "Each decision is a `BookingEngine.book` call that returns only after its journal record is committed",
        "(2,000 calls in flight). Group commit: up to 1,000 records per transaction; the baseline commits each",
        "booking alone.",
        "",
        "| backend | shows | group commit | commit per booking | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    pairs: dict[tuple[str, str], dict[str, bench_engine.EngineFigure]] = {}
    for figure in engine:
        pairs.setdefault((figure.backend, figure.layout), {})[figure.mode] = figure
    for (backend, layout), modes in pairs.items():
        group, single = modes["group commit"], modes["commit per booking"]
        ratio = group.per_second / single.per_second
        target = "≥ 100,000/s and ≥ 25x" if backend == "sqlite" else "-"
        lines.append(
            f"| {backend} | {layout} | {group.per_second:,.0f}/s ({group.commits} commits) | "
            f"{single.per_second:,.0f}/s | {ratio:,.0f}x | {target} |"
        )
    real, bare, storm = http.real, http.bare, http.storm
    share = real.per_second / bare.per_second
    lines += [
        "",
        "## 2. HTTP: `POST /shows/{id}/book/` beside a bare aiohttp handler",
        "",
        f"wrk, one thread, 200 connections, {real.seconds:.0f} s each, a different seat per request",
        "(scripts/book.lua);",
        f"the service on SQLite with {http.loop}; the bare handler (scripts/bare_server.py) parses the same JSON and",
        "answers 201. Both are separate processes on this machine, beside wrk.",
        "",
        "| server | requests/s | p50 | p90 | p99 | max | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for figure in (bare, real):
        lines.append(
            f"| {figure.label} | {figure.per_second:,.0f} | {figure.p50_ms:.1f} ms | {figure.p90_ms:.1f} ms | "
            f"{figure.p99_ms:.1f} ms | {figure.max_ms:.1f} ms | {figure.non_2xx} |"
        )
    lines += [
        "",
        f"**Book path / bare handler: {share:.0%}** (target ≥ 70%); **p99 {real.p99_ms:.1f} ms** (target < 50 ms).",
        "",
        "## 3. Login storm",
        "",
        "200 concurrent `POST /login` (bcrypt cost 12, on cores-1 threads) fired while wrk books as above.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| booking requests/s during the storm | {storm.per_second:,.0f} |",
        f"| booking p99 during the storm | {storm.p99_ms:.1f} ms "
        f"(without storm {real.p99_ms:.1f} ms; target < 50 ms) |",
        f"| login p99 | {http.login_p99_ms:,.0f} ms |",
        "",
    ]
    lines += bench_rush.report_lines(ceiling)
    lines += [
        f"_Run took {seconds:.0f} s._",
        "",
    ]
    REPORT.parent.mkdir(exist_ok=True)
    text = "\n".join(lines)
    notes = REPORT.with_name("BENCHMARKS.notes.md")
    if notes.exists():  # hand-written analysis kept across reruns
        text += "\n" + notes.read_text()
    REPORT.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cinema bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CINEMA_TEST_POSTGRES_URL"),
        help="PostgreSQL server URL for the engine benchmark (default: CINEMA_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per HTTP measurement")
    parser.add_argument("--scale", type=float, default=1.0, help="engine benchmark size (1.0 = 100,000 decisions)")


def run(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("cinema bench: wrk is needed (apt-get install wrk)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    backends = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    engine = asyncio.run(bench_engine.run(backends, args.postgres, args.scale))
    http = bench_http.run(args.seconds)
    ceiling = bench_rush.ceiling()
    write_report(engine, http, ceiling, time.perf_counter() - started)
    print(f"cinema bench: wrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
