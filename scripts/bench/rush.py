"""The load tester's own ceiling: `cinema rush`'s timed loop against the bare handler (scripts/bench/bare_server.py),
with one load process and with two, alternating in one run so that both see the same machine."""

from __future__ import annotations

import multiprocessing
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from scripts.rush.load import LoadPlan, Shared
from scripts.rush.runner import run_processes, split
from scripts.rush.summary import BUSY_CLIENT
from scripts.testing.server_process import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CeilingFigure:
    procs: int
    per_second: float
    cpu_percent: list[float]  # per load process, of one core


def measure(base_url: str, procs: int, requests: int, concurrency: int) -> CeilingFigure:
    plans = [
        LoadPlan(
            base_url=base_url,
            show_id=1,
            total_seats=1000,
            free_at_start=10**9,  # the bare handler never sells out
            headers=[{"Content-Type": "application/json"}],
            procs=procs,
            index=index,
            concurrency=split(concurrency, procs, index),
            requests=split(requests, procs, index),
            duration=600.0,
        )
        for index in range(procs)
    ]
    context = multiprocessing.get_context("spawn")
    shared = Shared(context.Array("q", procs, lock=False), context.Value("q", 0), context.Value("d", 0.0))
    results = run_processes(plans, shared, False, requests)
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update({int(k): v for k, v in result["phases"]["rush"]["statuses"].items()})
    assert statuses == {201: requests}, statuses
    seconds = max(r["last_answer"] for r in results) - results[0]["rush_start"]
    busy = [round(r["cpu_seconds"] / r["wall_seconds"] * 100, 1) for r in results]
    return CeilingFigure(procs, requests / seconds, busy)


def ceiling(requests: int = 30_000, concurrency: int = 200, rounds: int = 2) -> list[CeilingFigure]:
    """Best of `rounds` for --procs 1 and --procs 2, measured in alternation."""
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "scripts.bench.bare_server", "--port", str(port)], cwd=ROOT)
    try:
        _wait_listening(port)
        best: dict[int, CeilingFigure] = {}
        for _ in range(rounds):
            for procs in (1, 2):
                figure = measure(f"http://127.0.0.1:{port}", procs, requests, concurrency)
                if procs not in best or figure.per_second > best[procs].per_second:
                    best[procs] = figure
    finally:
        bare.terminate()
        bare.wait(10)
    for figure in best.values():
        cpu = ", ".join(f"{b:.0f}%" for b in figure.cpu_percent)
        print(f"rush  --procs {figure.procs} against the bare handler: {figure.per_second:,.0f} req/s (CPU {cpu})")
    return list(best.values())


def report_lines(figures: list[CeilingFigure], stamp: str = "") -> list[str]:
    one, two = (next(f for f in figures if f.procs == n) for n in (1, 2))
    lines = [
        "## 4. The load tester's own ceiling",
        "",
        stamp,
        "",
        "`cinema rush`'s closed loop against the bare handler, 200 connections, `--procs 1` and `--procs 2` measured",
        "alternately in this run (best of two each); CPU is each load process's share of one core.",
        "",
        "| load processes | requests/s | client CPU per process |",
        "|---|---|---|",
    ]
    for figure in (one, two):
        lines.append(
            f"| {figure.procs} | {figure.per_second:,.0f} | {', '.join(f'{b:.0f}%' for b in figure.cpu_percent)} |"
        )
    busiest = max(b for f in (one, two) for b in f.cpu_percent)
    if busiest < BUSY_CLIENT * 100:
        reading = [
            f"No load process was CPU-bound (the busiest used {busiest:.0f}% of a core), so the client was not the",
            "limit here: these are floors of its ceiling, set by the bare handler (one process) on a machine shared",
            "with other work.",
        ]
    else:
        reading = [
            f"A load process used {busiest:.0f}% of a core: there the client was the limit, and more load",
            "processes (on free cores) raise it.",
        ]
    lines += ["", f"**--procs 2 / --procs 1: {two.per_second / one.per_second:.2f}x.** " + reading[0], *reading[1:]]
    return lines


def _wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the bare handler did not listen on {port}")
