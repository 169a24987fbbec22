"""`cinema rush` under the per-customer cap (CINEMA_MAX_SEATS_PER_USER, the service's default 10): it signs up
enough users to sell the show out, or says why it cannot (the sign-up limit), and counts the cap's `seat_limit`
409s apart from the contended ones. Real servers with the cap on, as an operator's would be."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.rush.setup import users_for
from scripts.testing.server_process import ROOT, ServerProcess, cinema_env, run_cinema

README_RUSH = ["--show", "2", "--users", "4", "--rate", "300", "--duration", "2s", "--warmup", "0.5s"]
README_MIX = ["--mix", "single=6,multi=2,best=1,hold=1", "--procs", "1"]


def test_users_for_the_cap() -> None:
    assert users_for(4, 60, 10) == 8  # 6 at 10 each, and a quarter more
    assert users_for(20, 60, 10) == 20  # asked for more: kept
    assert users_for(4, 60, 0) == 4  # no cap
    assert users_for(4, 0, 10) == 4  # nothing free


def serve(tmp_path: Path, **limits: str) -> ServerProcess:
    url = f"sqlite:///{tmp_path / 'cap.db'}"
    for args in (["migrate"], ["seed-demo"]):
        assert run_cinema(args, url).returncode == 0
    server = ServerProcess(url, CINEMA_MAX_SEATS_PER_USER="10", **limits)
    server.wait_ready()
    return server


def rush(server: ServerProcess, out: Path) -> subprocess.CompletedProcess[str]:
    outputs = ["--json", str(out), "--report", str(out.with_suffix(".html"))]
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", "rush", "--url", server.url, *README_RUSH, *README_MIX, *outputs],
        env=cinema_env("sqlite:///unused.db"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_rush_sells_its_show_out_under_the_cap(tmp_path: Path) -> None:
    server = serve(tmp_path)
    try:
        result = rush(server, tmp_path / "rush.json")
    finally:
        server.terminate()
        server.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 users can book at most 40 of the 60 free seats" in result.stderr and "signing up 8" in result.stderr
    summary = json.loads((tmp_path / "rush.json").read_text())
    assert summary["invariants"]["seats_booked"] == 60 and summary["sold_out_after"] is not None
    assert summary["users"] == 8 and summary["seats_per_user"] == 10
    conflicts = summary["conflicts"]
    assert conflicts["contended"] + conflicts["seat_limit"] == summary["statuses"].get("409", 0)


def test_when_sign_ups_run_out_it_says_why_and_counts_the_caps_refusals_apart(tmp_path: Path) -> None:
    server = serve(tmp_path, CINEMA_SIGNUPS_PER_ADDRESS="3")
    try:
        result = rush(server, tmp_path / "rush.json")
    finally:
        server.terminate()
        server.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refused further sign-ups (429" in result.stderr and "going on with 3 of 8 users" in result.stderr
    assert "raise CINEMA_SIGNUPS_PER_ADDRESS" in result.stderr
    summary = json.loads((tmp_path / "rush.json").read_text())
    assert summary["users"] == 3
    assert summary["invariants"]["by_this_rush"] <= 30  # three customers, ten seats each
    assert summary["conflicts"]["seat_limit"] > 0  # they met the cap, and it is counted apart
    assert "seat_limit (the per-customer cap of 10" in result.stdout
    assert "seat_limit (the per-customer cap of 10)" in (tmp_path / "rush.html").read_text()
