"""kill -9 mid-rush, then restart: every answered booking and cancel is on disk, no seat twice."""

from __future__ import annotations

import signal

from scripts.testing.crash import run_cycles


def test_kill_9_mid_rush_loses_nothing(database_url: str) -> None:
    reports = run_cycles(database_url, cycles=3, seats=150, users=10, seed=5, log=False)
    assert sum(r.confirmed_bookings for r in reports) > 0, "the rush must confirm something before the kill"
    for report in reports:
        assert report.ok, report


def test_sigterm_mid_rush_drains_commits_and_exits_0(database_url: str) -> None:
    reports = run_cycles(database_url, cycles=2, seats=150, users=10, seed=9, log=False, sig=signal.SIGTERM)
    assert sum(r.confirmed_bookings for r in reports) > 0
    for report in reports:
        assert report.exit_code == 0, report
        assert report.ok, report
