"""The cluster benchmarks (PostgreSQL): `--workers 1` against `--workers 2` under wrk, the cost of a forward
(a request that lands on a node that does not own the show, against one that lands on the owner), and the
failover time after kill -9 of an owner. Side by side in one run, alternating, as every benchmark here."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp

from scripts.bench import http_path as bench_http
from scripts.bench.http_path import (
    PREPARE,
    SEATS_PER_SHOW,
    USER,
    Pairs,
    Spread,
    Target,
    WrkFigure,
    alternate,
    shows_needed,
)
from scripts.testing.server_process import ServerProcess
from storage.database import scratch_postgres_database

SECRET = "bench-cluster-secret-0123456789abcdef"
JWT = "bench-cluster-jwt-secret-0123456789abcdef"
SPREAD_SHOWS = 20  # the workers bench books round robin over this many shows, so every worker owns some


def database(admin_url: str) -> contextlib.AbstractContextManager[str]:
    """A fresh PostgreSQL database for one cluster, dropped afterwards."""
    return scratch_postgres_database(admin_url, "cinema_bench_cluster")


def prepare(url: str, shows: int) -> tuple[int, ...]:
    out = subprocess.run(
        [sys.executable, "-c", PREPARE, url, str(shows), "0", "bench-password", USER, str(SEATS_PER_SHOW)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    return tuple(int(i) for i in out.strip().splitlines()[-1].strip("[]").split(","))


def node(url: str, workers: int, lease: float = 5.0) -> ServerProcess:
    server = ServerProcess(
        url,
        "--workers",
        str(workers),
        "--lease-seconds",
        str(lease),
        CINEMA_CLUSTER_SECRET=SECRET,
        CINEMA_JWT_SECRET=JWT,
        CINEMA_BCRYPT_ROUNDS="12",
    )
    server.wait_ready()
    return server


def node_in(stack: contextlib.ExitStack, url: str, workers: int) -> ServerProcess:
    """A node stopped (SIGTERM, then killed if it lingers) when `stack` closes."""
    server = node(url, workers)
    stack.callback(server.close)
    stack.callback(server.terminate)
    return server


@contextlib.contextmanager
def spread() -> Iterator[None]:
    os.environ["BENCH_SPREAD"] = "1"  # read by scripts/bench/book.lua through wrk's environment
    try:
        yield
    finally:
        del os.environ["BENCH_SPREAD"]


def workers(admin_url: str, seconds: int, pairs: int, connections: int = 100) -> Pairs:
    """Book path requests/s of `--workers 1` (a) against `--workers 2` (b), on two databases of one server."""
    shows = max(SPREAD_SHOWS, shows_needed(seconds, pairs + 1))
    with contextlib.ExitStack() as stack, spread():
        targets = []
        for count in (1, 2):
            url = stack.enter_context(database(admin_url))
            show_ids = prepare(url, shows)
            server = node_in(stack, url, count)
            token, _ = asyncio.run(bench_http._login_once(server.url, USER))
            target = Target(f"--workers {count}", server.url, token, show_ids)
            bench_http.warm_up(target)
            targets.append(target)
        return alternate(targets[0], targets[1], pairs, seconds, connections)


def forwarding(admin_url: str, seconds: int, pairs: int, connections: int = 50) -> Pairs:
    """One show owned by node A: wrk against A (a) against wrk against B, which forwards every request (b)."""
    with database(admin_url) as url, contextlib.ExitStack() as stack:
        show_ids = prepare(url, shows_needed(seconds, 2 * pairs + 2))
        owner, other = node_in(stack, url, 1), node_in(stack, url, 1)
        token, _ = asyncio.run(bench_http._login_once(owner.url, USER))
        asyncio.run(_look_at(owner.url, show_ids))  # the owner takes every show's lease first
        on_owner = Target("on the owner", owner.url, token, show_ids)
        bench_http.warm_up(on_owner)
        forwarded = Target("forwarded by another node", other.url, token, show_ids, used=on_owner.used)
        result = Pairs(connections, [], [])
        for n in range(pairs):  # both targets book the same shows: each moves past the seats the other used
            for target, figures in ((on_owner, result.a), (forwarded, result.b))[:: 1 if n % 2 == 0 else -1]:
                target.used = max(on_owner.used, forwarded.used)
                figures.append(bench_http.measure(target, seconds, connections))
        return result


def rush_over_nodes(admin_url: str, seconds: int, pairs: int, connections: int = 99) -> Pairs:
    """A rush as a round-robin load balancer spreads it: three wrk processes, each on its own third of the shows,
    against one node (a) or one node each (b). In (b) the shows' owners alternate over the nodes, so each node
    decides a third of what it is sent and forwards the rest, as behind HAProxy's round robin."""
    per_wrk = connections // 3
    with contextlib.ExitStack() as stack, spread():
        setups: list[list[Target]] = []
        for count in (1, 3):
            url = stack.enter_context(database(admin_url))
            shows = max(SPREAD_SHOWS, shows_needed(seconds, pairs + 1))
            show_ids = prepare(url, 3 * shows)
            nodes = [node_in(stack, url, 1) for _ in range(count)]
            for n, server in enumerate(nodes):  # show j is owned by node j % count
                asyncio.run(_look_at(server.url, show_ids[n::count]))
            token, _ = asyncio.run(bench_http._login_once(nodes[0].url, USER))
            targets = [
                Target(
                    f"{count} node(s), wrk {i + 1}", nodes[i % count].url, token, show_ids[i * shows : (i + 1) * shows]
                )
                for i in range(3)
            ]
            _together(targets, 2, per_wrk)  # warm up
            setups.append(targets)
        result = Pairs(per_wrk * 3, [], [])
        for n in range(pairs):
            for targets in setups if n % 2 == 0 else setups[::-1]:
                (result.a if targets is setups[0] else result.b).append(_together(targets, seconds, per_wrk))
        print(
            f"cluster  rush over 3 nodes / 1 node = {result.ratios.format('.2f')}; "
            f"p99 {result.p99(result.b).format('.1f', ' ms')} vs {result.p99(result.a).format('.1f', ' ms')}",
            flush=True,
        )
        return result


def _together(targets: list[Target], seconds: int, connections: int) -> WrkFigure:
    """wrk against every target at once, as one figure: requests summed, the worst p99 and max."""
    runs = [bench_http._start_wrk(target, seconds, connections) for target in targets]
    figures = [bench_http._collect(run, target.label) for run, target in zip(runs, targets, strict=True)]
    for target, figure in zip(targets, figures, strict=True):
        bench_http.move_past(target, figure, connections)
    label = targets[0].label.rsplit(",", 1)[0]
    total = WrkFigure(
        label,
        sum(f.requests for f in figures),
        max(f.seconds for f in figures),
        statistics.median(f.p50_ms for f in figures),
        max(f.p90_ms for f in figures),
        max(f.p99_ms for f in figures),
        max(f.max_ms for f in figures),
        sum(f.errors for f in figures),
        sum(f.non_2xx for f in figures),
    )
    bench_http.show(total)
    return total


async def _look_at(base: str, show_ids: tuple[int, ...]) -> None:
    async with aiohttp.ClientSession() as session:
        for show_id in show_ids:
            async with session.get(f"{base}/shows/{show_id}/seats/") as response:
                assert response.status == 200, await response.text()


def failover(admin_url: str, kills: int = 5, lease: float = 2.0) -> list[float]:
    """Seconds from kill -9 of a show's owner until another node decides for it, `kills` times."""
    times = []
    with database(admin_url) as url:
        show_ids = prepare(url, kills)
        for show_id in show_ids:
            owner, other = node(url, 1, lease), node(url, 1, lease)
            try:
                times.append(asyncio.run(_one_failover(owner, other, show_id)))
                print(f"cluster  failover after kill -9: {times[-1]:.2f} s (lease {lease:g} s)", flush=True)
            finally:
                for server in (owner, other):
                    server.close()
    return times


async def _one_failover(owner: ServerProcess, other: ServerProcess, show_id: int) -> float:
    token, _ = await bench_http._login_once(owner.url, USER)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as session:
        book = f"/shows/{show_id}/book/"
        async with session.post(owner.url + book, json={"seat_number": 1}) as response:
            assert response.status == 201, await response.text()
        owner.process.kill()
        killed = time.monotonic()
        for seat in range(2, 2000):
            async with session.post(other.url + book, json={"seat_number": seat}) as response:
                if response.status in (201, 409):
                    return time.monotonic() - killed
                assert response.status == 503, await response.text()
            await asyncio.sleep(0.02)
    raise AssertionError("the show was never taken over")


def report_lines(admin_url: str, seconds: int, pairs: int, stamp: str) -> list[str]:
    scaling = workers(admin_url, seconds, pairs)
    forwarded = forwarding(admin_url, seconds, pairs)
    rush = rush_over_nodes(admin_url, seconds, pairs)
    kills = failover(admin_url)
    p50 = Spread.of([f.p50_ms for f in forwarded.b]), Spread.of([f.p50_ms for f in forwarded.a])
    return [
        "## Cluster (PostgreSQL): workers, forwarding, failover",
        "",
        stamp,
        "",
        f"wrk, one thread, {seconds} s per run, {pairs} alternating pairs, median (min-max). The machine has "
        f"{os.cpu_count()} cores and wrk and PostgreSQL run on it too, so a second worker has at most part of a",
        "core to itself. `--workers N` books round robin over 20+ shows (every worker owns some and forwards the",
        "rest); the forwarding run books one show at a time, owned by node A, through A or through node B. The",
        "rush runs three wrk at once, each on its own third of the shows, against one node or one node each;",
        "with three nodes the shows' owners alternate, so each node forwards two thirds of what it is sent",
        "(a round-robin load balancer). Three nodes on two cores share them with PostgreSQL and wrk: this",
        "measures what the cluster costs on one machine, not what three machines would give.",
        "",
        "| figure | a | b | b / a |",
        "|---|---|---|---|",
        f"| book requests/s, `--workers 1` (a) vs `--workers 2` (b), {scaling.connections} connections | "
        f"{scaling.rates(scaling.a).format(',.0f')} | {scaling.rates(scaling.b).format(',.0f')} | "
        f"**{scaling.ratios.format('.2f')}** |",
        f"| book p99 | {scaling.p99(scaling.a).format('.1f', ' ms')} | "
        f"{scaling.p99(scaling.b).format('.1f', ' ms')} | |",
        f"| book requests/s on the owner (a) vs forwarded (b), {forwarded.connections} connections | "
        f"{forwarded.rates(forwarded.a).format(',.0f')} | {forwarded.rates(forwarded.b).format(',.0f')} | "
        f"**{forwarded.ratios.format('.2f')}** |",
        f"| book requests/s, a rush spread over 1 node (a) vs 3 nodes (b), {rush.connections} connections | "
        f"{rush.rates(rush.a).format(',.0f')} | {rush.rates(rush.b).format(',.0f')} | "
        f"**{rush.ratios.format('.2f')}** |",
        f"| rush p99 (the worst of the three wrk) | {rush.p99(rush.a).format('.1f', ' ms')} | "
        f"{rush.p99(rush.b).format('.1f', ' ms')} | |",
        f"| p50 on the owner / forwarded | {p50[1].format('.1f', ' ms')} | {p50[0].format('.1f', ' ms')} | |",
        f"| p99 on the owner / forwarded | {forwarded.p99(forwarded.a).format('.1f', ' ms')} | "
        f"{forwarded.p99(forwarded.b).format('.1f', ' ms')} | |",
        "",
        f"Failover after kill -9 of a show's owner, lease 2 s, {len(kills)} kills: median "
        f"{statistics.median(kills):.2f} s, max {max(kills):.2f} s (until the other node's first decision for "
        "the show; 503 with Retry-After before it).",
    ]
