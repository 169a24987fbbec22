"""A real 1-second stall of a real server (SIGSTOP, then SIGCONT): the open loop shows it, the closed loop hides
most of it (coordinated omission), and users who retry with an Idempotency-Key after a timeout book nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.rush.runner import RushConfig, rush
from scripts.testing.server_process import ServerProcess, run_cinema

STALL = 1.0


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'stall.db'}"
    for args in (["migrate"], ["create-admin", "boss", "--password", "boss-password"]):
        assert run_cinema(args, url).returncode == 0
    server = ServerProcess(url)
    server.wait_ready()
    yield server
    os.kill(server.process.pid, signal.SIGCONT)  # never leave it stopped
    server.terminate()
    server.close()


def stall_later(server: ServerProcess, after: float) -> threading.Thread:
    """Stop the server process `after` seconds from now for STALL seconds: no hook inside the server."""

    def stall() -> None:
        threading.Event().wait(after)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            threading.Event().wait(STALL)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)

    thread = threading.Thread(target=stall, daemon=True)
    thread.start()
    return thread


async def stalled_rush(server: ServerProcess, setup_seconds: float, **options: Any) -> dict[str, Any]:
    config = RushConfig(
        base_url=server.url,
        users=4,
        seats=10_000,
        procs=1,
        admin_user="boss",
        admin_password="boss-password",
        progress=False,
        seed=1,
        **options,
    )
    # the setup (show, users, process start) takes ~1-2 s; the stall lands in the timed part
    thread = stall_later(server, setup_seconds)
    summary = await rush(config)
    await asyncio.to_thread(thread.join)
    assert summary["ok"], summary["invariants"]
    return summary


def slow_share(summary: dict[str, Any], threshold_ms: float = 200.0) -> float:
    """Share of the requests slower than threshold_ms, read off the merged latency distribution."""
    points = summary["distribution"]
    fast = max((q for q, ms in points if ms <= threshold_ms), default=0.0)
    return (100.0 - fast) / 100.0


async def test_open_loop_exposes_a_stall_that_the_closed_loop_under_reports(server: ServerProcess) -> None:
    opened = await stalled_rush(server, 2.5, rate=(300, 300), duration=4.0, concurrency=50, timeout=10.0)
    closed = await stalled_rush(server, 2.5, requests=0, duration=4.0, concurrency=10, timeout=10.0)
    for summary in (opened, closed):
        assert summary["latency_ms_all"]["max"] >= 800  # both saw the stall once...
    # ...but the open loop counts every arrival that was due during it (~300 of 1,200), each from its intended
    # start, while the closed loop's 10 connections waited once each and then sent thousands of fast requests
    assert slow_share(opened) >= 0.10, opened["distribution"]
    assert slow_share(closed) <= 0.02, closed["distribution"]
    assert opened["latency_ms_all"]["p90"] >= 200 > closed["latency_ms_all"]["p90"]
    assert opened["latency_ms_all"]["p99"] >= 700
    # the stall is visible over time too: some bucket's p99 is near the stall
    assert max(p for p in opened["timeline"]["p99_ms"] if p is not None) >= 700


async def test_retries_with_an_idempotency_key_after_timeouts_book_nothing_twice(server: ServerProcess) -> None:
    summary = await stalled_rush(
        server,
        2.0,
        rate=(200, 200),
        duration=3.0,
        concurrency=40,
        timeout=0.5,
        retries=20,  # a busy shared machine may need several tries after the stall; each keeps its key
        mix={"single": 3, "multi": 1, "hold": 1, "cancel": 1},
    )
    assert summary["retried"] > 0 and summary["client_errors"].get("timeout", 0) > 0
    inv = summary["invariants"]
    assert not inv["seats_twice"] and not inv["lost"] and not inv["ghost_cancels"]
    assert "0" not in summary["statuses"]  # every action got an answer in the end
