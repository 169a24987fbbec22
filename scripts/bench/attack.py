"""Booking under attack: wrk books while a hostile client attacks from another address, beside the same run
without the attack (alternating pairs, one server, default limits).

* slow connections: 127.0.0.2 keeps opening connections and sends one header line per second on each, never
  finishing a request (slowloris), reopening whatever the server closes or refuses;
* login storm: 127.0.0.2 keeps 200 wrong-password logins in flight at bcrypt cost 12, while a customer on
  127.0.0.3 logs in every half second.

The attacker runs in its own process (`python -m scripts.bench.attack slow|logins URL SECONDS`) and prints one
JSON line of what it saw; `run` drives the pairs and returns the figures for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from scripts.bench import http_path as bench_http
from scripts.bench.http_path import Pairs, Spread, WrkFigure

ATTACKER = "127.0.0.2"
CUSTOMER = "127.0.0.3"
SLOW_CONNECTIONS = 3000  # the attacker's target; the server admits 256 per address (and 4,096 in all)
STORM_IN_FLIGHT = 200
# web/settings.py's defaults except the seat limit: the bench user books thousands of seats on purpose.
SERVER_ENV = {
    "CINEMA_MAX_CONNECTIONS_PER_SOURCE": "256",
    "CINEMA_LOGINS_PER_ADDRESS": "300",
    "CINEMA_PASSWORD_CHECKS_PER_ADDRESS": "16",
    "CINEMA_MAX_SEATS_PER_USER": "0",
}


@dataclass
class AttackFigures:
    name: str
    pairs: Pairs  # a: booking alone, b: booking during the attack
    seen: list[dict[str, Any]] = field(default_factory=list)  # the attacker's report, per attacked run


def run(seconds: int = 8, pairs: int = 2, connections: int = 100) -> list[AttackFigures]:
    with bench_http.service("book", bench_http.shows_needed(seconds, 4 * pairs), **SERVER_ENV) as target:
        return [_alternate(target, kind, seconds, pairs, connections) for kind in ("slow", "logins")]


def _alternate(target: bench_http.Target, kind: str, seconds: int, pairs: int, connections: int) -> AttackFigures:
    figures = AttackFigures(kind, Pairs(connections, [], []))
    for n in range(pairs):
        for attacked in (False, True) if n % 2 == 0 else (True, False):
            if not attacked:
                figures.pairs.a.append(bench_http.measure(target, seconds, connections))
                continue
            attacker = subprocess.Popen(
                [sys.executable, "-m", "scripts.bench.attack", kind, target.url, str(seconds + 2)],
                cwd=bench_http.ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(1.5)  # the attack is under way before the measurement starts
            figure = _measured(target, seconds, connections, f"book during {kind}")
            out, _ = attacker.communicate(timeout=120)
            figures.pairs.b.append(figure)
            figures.seen.append(json.loads(out.strip().splitlines()[-1]))
            print(f"attack {kind}: {figures.seen[-1]}", flush=True)
            time.sleep(2)  # what the attack left behind times out before the next run
    print(
        f"attack {kind}: booking during/alone = {figures.pairs.ratios.format('.2f')}; p99 "
        f"{figures.pairs.p99(figures.pairs.b).format('.1f', ' ms')} vs "
        f"{figures.pairs.p99(figures.pairs.a).format('.1f', ' ms')}",
        flush=True,
    )
    return figures


def _measured(target: bench_http.Target, seconds: int, connections: int, label: str) -> WrkFigure:
    figure = bench_http.measure(target, seconds, connections)
    figure.label = label
    return figure


def section_lines(results: list[AttackFigures], seconds: int, stamp: str) -> list[str]:
    slow, logins = results
    lines = [
        "## Booking under attack (issue 11)",
        "",
        stamp,
        "",
        f"wrk books as in section 2 ({slow.pairs.connections} connections from 127.0.0.1, {seconds} s per run) "
        "while an attacker on",
        f"{ATTACKER} attacks, alternating with the same run without the attack ({len(slow.pairs.a)} pairs per "
        "attack, median (min-max)).",
        "The server runs `cinema serve` with its default limits (header deadline 15 s, 256 connections per address,",
        "16 waiting password checks per address, bcrypt cost 12 on cores-1 threads); only the seat limit is off,",
        "since the bench user books thousands of seats.",
        "",
        "| attack | booking requests/s without | during | during / without | **p99 without** | **p99 during** |",
        "|---|---|---|---|---|---|",
    ]
    for figures, label in ((slow, "slow connections"), (logins, "login storm")):
        pairs = figures.pairs
        lines.append(
            f"| {label} | {pairs.rates(pairs.a).format(',.0f')} | {pairs.rates(pairs.b).format(',.0f')} | "
            f"{pairs.ratios.format('.2f')} | {pairs.p99(pairs.a).format('.1f', ' ms')} | "
            f"{pairs.p99(pairs.b).format('.1f', ' ms')} |"
        )
    opened = Spread.of([seen["opened"] for seen in slow.seen])
    refused = Spread.of([seen["refused"] for seen in slow.seen])
    cut = Spread.of([seen["cut"] for seen in slow.seen])
    customer = Spread.of([seen["customer_max_ms"] for seen in logins.seen])
    customer_p50 = Spread.of([seen["customer_p50_ms"] for seen in logins.seen])
    statuses: Counter[str] = Counter()
    for seen in logins.seen:
        statuses.update(seen["statuses"])
    lines += [
        "",
        f"Slow connections, per run: the attacker opened {opened.format(',.0f')} connections; "
        f"{refused.format(',.0f')} were refused at once",
        f"(JSON 503, over the per-address bound) and {cut.format(',.0f')} closed by the server at the header deadline.",
        f"Login storm: the customer's logins took {customer_p50.format(',.0f', ' ms')} (median) and at most "
        f"{customer.format(',.0f', ' ms')};",
        "the attacker's answers over all runs: "
        + ", ".join(f"{count:,} x {status}" for status, count in sorted(statuses.items()))
        + ".",
    ]
    return lines


# --- the attacker process ------------------------------------------------------------------------------------
async def _slow(url: str, seconds: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + seconds
    counts = Counter[str]()
    open_ones: set[asyncio.StreamWriter] = set()

    async def one() -> None:
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection(host, int(port), local_addr=(ATTACKER, 0))
            except OSError:
                counts["connect_failed"] += 1
                await asyncio.sleep(0.5)
                continue
            counts["opened"] += 1
            open_ones.add(writer)
            try:
                writer.write(b"POST /shows/1/book/ HTTP/1.1\r\nHost: x\r\n")
                while time.monotonic() < deadline:
                    try:
                        data = await asyncio.wait_for(reader.read(1024), 1.0)
                    except TimeoutError:
                        writer.write(b"X-Slow: 1\r\n")  # one more header line, never the end of them
                        continue
                    refused = data.startswith(b"HTTP/1.1 503")
                    counts["refused" if refused else "cut"] += 1
                    if refused:
                        await asyncio.sleep(0.5)  # a persistent client, not one that burns a core on retries
                    break
            except (ConnectionError, OSError):
                counts["cut"] += 1
            finally:
                open_ones.discard(writer)
                writer.close()

    await asyncio.gather(*(one() for _ in range(SLOW_CONNECTIONS)))
    return dict(counts)


async def _logins(url: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    statuses = Counter[str]()
    customer: list[float] = []
    attacker = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(ATTACKER, 0)))
    regular = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(CUSTOMER, 0)))

    async def attack(n: int) -> None:
        while time.monotonic() < deadline:
            body = {"username": f"storm-{n}", "password": "not-the-password"}
            try:
                async with attacker.post(f"{url}/login", json=body) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except aiohttp.ClientError:
                statuses["error"] += 1

    async def customer_logins() -> None:
        await asyncio.sleep(1.0)
        while time.monotonic() < deadline - 1:
            started = time.monotonic()
            body = {"username": bench_http.USER, "password": bench_http.PASSWORD}
            async with regular.post(f"{url}/login", json=body) as response:
                await response.read()
                assert response.status == 200, response.status
            customer.append((time.monotonic() - started) * 1000)
            await asyncio.sleep(0.5)

    try:
        await asyncio.gather(customer_logins(), *(attack(n) for n in range(STORM_IN_FLIGHT)))
    finally:
        await attacker.close()
        await regular.close()
    customer.sort()
    return {
        "statuses": dict(statuses),
        "customer_logins": len(customer),
        "customer_p50_ms": customer[len(customer) // 2] if customer else 0.0,
        "customer_max_ms": customer[-1] if customer else 0.0,
    }


def main(argv: list[str]) -> int:
    kind, url, seconds = argv[0], argv[1], float(argv[2])
    attack = _slow if kind == "slow" else _logins
    report = asyncio.run(attack(url, seconds))
    report.setdefault("opened", 0)
    report.setdefault("refused", 0)
    report.setdefault("cut", 0)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
