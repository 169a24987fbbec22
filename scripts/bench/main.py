"""`cinema bench`: run the benchmarks and rewrite their sections of docs/BENCHMARKS.md.

Each benchmark writes its own section between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, so running
one (`--only http`) never erases another's figures, and the hand-written analysis outside the markers stays.
To add a benchmark: a function `(args) -> markdown` and one line in BENCHES.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from scripts.bench import attack as bench_attack
from scripts.bench import cluster as bench_cluster
from scripts.bench import engine as bench_engine
from scripts.bench import http_path as bench_http
from scripts.bench import ladder as bench_ladder
from scripts.bench import outbox as bench_outbox
from scripts.bench import rush as bench_rush

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "BENCHMARKS.md"


def stamp() -> str:
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"_Measured {date} on {machine}, a machine shared with other work: compare figures side by side only._"


def engine_section(args: argparse.Namespace) -> str:
    backends = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    figures = asyncio.run(bench_engine.run(backends, args.postgres, args.scale))
    lines = [
        "## 1. Engine: durable book decisions per second (one process)",
        "",
        stamp(),
        "",
        "Each decision is a `BookingEngine.book` call that returns only after its journal record is committed",
        "(2,000 calls in flight). Group commit: up to 1,000 records per transaction; the baseline commits each",
        "booking alone.",
        "",
        "| backend | shows | group commit | commit per booking | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    pairs: dict[tuple[str, str], dict[str, bench_engine.EngineFigure]] = {}
    for figure in figures:
        pairs.setdefault((figure.backend, figure.layout), {})[figure.mode] = figure
    for (backend, layout), modes in pairs.items():
        group, single = modes["group commit"], modes["commit per booking"]
        target = "≥ 100,000/s and ≥ 25x" if backend == "sqlite" else "-"
        lines.append(
            f"| {backend} | {layout} | {group.per_second:,.0f}/s ({group.commits} commits) | "
            f"{single.per_second:,.0f}/s | {group.per_second / single.per_second:,.0f}x | {target} |"
        )
    return "\n".join(lines)


def http_section(args: argparse.Namespace) -> str:
    results = bench_http.run(args.seconds, args.pairs)
    lines = [
        "## 2. HTTP: `POST /shows/{id}/book/` beside a bare aiohttp handler on the same stack",
        "",
        stamp(),
        "",
        f"wrk, one thread, {args.seconds} s per run, a token on every request and a seat never booked before",
        "(scripts/bench/book.lua). The service runs on SQLite with uvloop and orjson, every 201 committed before it",
        "is sent; the bare handler (scripts/bench/bare_server.py) runs on uvloop, parses the JSON body with orjson and",
        f"answers 201. {args.pairs} alternating pairs per connection count; each cell is the median (min-max) of the",
        "pairs.",
        "",
        "| connections | bare requests/s | book requests/s | **book / bare** | bare p99 | **book p99** | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for pairs in results:
        bare, book = pairs.a, pairs.b
        lines.append(
            f"| {pairs.connections} | {pairs.rates(bare).format(',.0f')} | {pairs.rates(book).format(',.0f')} | "
            f"**{pairs.ratios.format('.2f')}** | {pairs.p99(bare).format('.1f', ' ms')} | "
            f"**{pairs.p99(book).format('.1f', ' ms')}** | {sum(f.non_2xx + f.errors for f in book)} |"
        )
    lines += [
        "",
        "Targets: book / bare ≥ 0.70 (median) with book p99 < 50 ms, at 100 and at 200 connections.",
        "",
        "Server CPU per request (user + system time of the server process, all threads, from /proc, during the",
        "same runs): what each answer costs the machine, less disturbed by other work than requests/s.",
        "",
        "| connections | bare handler | book path | book / bare |",
        "|---|---|---|---|",
    ]
    for pairs in results:
        cpu_ratio = bench_http.Spread.of([b.cpu_us / a.cpu_us for a, b in zip(pairs.a, pairs.b, strict=True)])
        lines.append(
            f"| {pairs.connections} | {pairs.cpu(pairs.a).format('.0f', ' µs')} | "
            f"{pairs.cpu(pairs.b).format('.0f', ' µs')} | {cpu_ratio.format('.2f')} |"
        )
    return "\n".join(lines)


def ladder_section(args: argparse.Namespace) -> str:
    rungs = bench_ladder.run(args.seconds, args.pairs)
    return bench_ladder.section(rungs, args.seconds, bench_ladder.CONNECTIONS, stamp())


def storm_section(args: argparse.Namespace) -> str:
    figures = bench_http.storm(args.seconds, args.storm_pairs)
    pairs = figures.pairs
    return "\n".join(
        [
            "## 3. Login storm",
            "",
            stamp(),
            "",
            f"{bench_http.STORM_USERS} concurrent `POST /login` (bcrypt cost 12, on cores-1 threads) fired one second",
            f"into a wrk run ({pairs.connections} connections, {args.seconds} s) that books as above, alternating with",
            f"the same run without logins; {len(pairs.a)} pairs, median (min-max).",
            "",
            "| figure | without logins | during the storm |",
            "|---|---|---|",
            f"| booking requests/s | {pairs.rates(pairs.a).format(',.0f')} | {pairs.rates(pairs.b).format(',.0f')} |",
            f"| booking p99 | {pairs.p99(pairs.a).format('.1f', ' ms')} | {pairs.p99(pairs.b).format('.1f', ' ms')} |",
            f"| during / without | | **{pairs.ratios.format('.2f')}** |",
            f"| time until all {bench_http.STORM_USERS} logins answered | | "
            f"{bench_http.Spread.of(figures.login_seconds).format('.0f', ' s')} |",
            f"| login p99 | | {figures.login_p99_ms:,.0f} ms |",
        ]
    )


def attack_section(args: argparse.Namespace) -> str:
    results = bench_attack.run(args.seconds, args.attack_pairs)
    return "\n".join(bench_attack.section_lines(results, args.seconds, stamp()))


def rush_section(_: argparse.Namespace) -> str:
    return "\n".join(bench_rush.report_lines(bench_rush.ceiling(), stamp()))


def cluster_section(args: argparse.Namespace) -> str:
    if not args.postgres:
        return "## Cluster (PostgreSQL)\n\nNot measured: it needs `--postgres URL` (or CINEMA_TEST_POSTGRES_URL)."
    return "\n".join(bench_cluster.report_lines(args.postgres, args.seconds, args.storm_pairs, stamp()))


def fencing_section(args: argparse.Namespace) -> str:
    backends = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    return bench_engine.fencing_section(backends, args.postgres, args.fence_pairs, args.scale, stamp())


def outbox_section(args: argparse.Namespace) -> str:
    backends = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    results = bench_outbox.run(backends, args.postgres, args.outbox_cycles, args.outbox_seconds)
    return bench_outbox.section(results, args.outbox_cycles, args.outbox_seconds, stamp())


BENCHES: dict[str, Callable[[argparse.Namespace], str]] = {
    "engine": engine_section,
    "fencing": fencing_section,
    "http": http_section,
    "ladder": ladder_section,
    "storm": storm_section,
    "rush": rush_section,
    "cluster": cluster_section,
    "attack": attack_section,
    "outbox": outbox_section,
}


def update_report(text: str, name: str, section: str) -> str:
    """`text` with the section of bench `name` replaced, or added after the last bench section."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{section.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    ends = list(re.finditer(r"<!-- /bench:[\w-]+ -->", text))
    at = ends[-1].end() if ends else len(text)
    return f"{text[:at].rstrip()}\n\n{block}\n{text[at:]}"


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
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per HTTP run")
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs per HTTP comparison")
    parser.add_argument("--fence-pairs", type=int, default=5, help="alternating pairs for the fencing cost")
    parser.add_argument("--storm-pairs", type=int, default=3, help="alternating pairs for the login storm")
    parser.add_argument("--attack-pairs", type=int, default=2, help="alternating pairs per attack (slow, logins)")
    parser.add_argument("--scale", type=float, default=1.0, help="engine benchmark size (1.0 = 100,000 decisions)")
    parser.add_argument("--outbox-cycles", type=int, default=3, help="cycles of rounds for the outbox benchmark")
    parser.add_argument("--outbox-seconds", type=float, default=3.0, help="seconds per outbox benchmark round")
    parser.add_argument(
        "--only", default=",".join(BENCHES), help=f"comma-separated benchmarks to run (of {', '.join(BENCHES)})"
    )


def run(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHES]
    if unknown or not names:
        print(
            f"cinema bench: unknown benchmark {', '.join(unknown) or '(none)'}; choose from {', '.join(BENCHES)}",
            file=sys.stderr,
        )
        return 2
    if shutil.which("wrk") is None and {"http", "ladder", "storm", "cluster"} & set(names):
        print("cinema bench: wrk is needed (apt-get install wrk)", file=sys.stderr)
        return 2
    for name in names:
        section = BENCHES[name](args)
        text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n"
        REPORT.write_text(update_report(text, name, section))  # after each bench: a late failure keeps the rest
        print(f"cinema bench: wrote the {name} section of {REPORT}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
