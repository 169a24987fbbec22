"""`cinema rush` against real servers: each mode, the phases, the setup checks and the invariants it reports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.rush.runner import RUSH_MOVIE, RushConfig, rush
from scripts.testing.server_process import ROOT, ServerProcess, cinema_env, demo_server
from tests.conftest import Api

ADMIN = ["--admin-user", "boss", "--admin-password", "boss-password"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One demo server (SQLite) with an admin for the command-line tests; each test rushes its own show."""
    url = f"sqlite:///{tmp_path_factory.mktemp('rush') / 'rush.db'}"
    server = demo_server(url, ["create-admin", "boss", "--password", "boss-password"])
    yield server
    server.terminate()
    server.close()


def cinema_rush(server: ServerProcess, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", "rush", "--url", server.url, *args],
        env=cinema_env("sqlite:///unused.db"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def get(server: ServerProcess, path: str) -> Any:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as response:
        return json.load(response)


async def test_closed_loop_with_every_action_on_both_backends(api: Api) -> None:
    """The whole mix through the app on SQLite and PostgreSQL, two load processes, hundreds in flight."""
    await api.admin_with_password("rush-admin", "rush-admin-password")
    config = RushConfig(
        base_url=str(api.client.make_url("")).rstrip("/"),
        users=8,
        seats=300,
        requests=900,
        concurrency=200,
        procs=2,
        pattern="random",
        mix={"single": 4, "multi": 2, "best": 1, "hold": 1, "cancel": 1},
        admin_user="rush-admin",
        admin_password="rush-admin-password",
        progress=False,
        seed=3,
    )
    summary = await rush(config)
    assert summary["ok"], summary["invariants"]
    assert summary["mode"] == "closed" and summary["procs"] == 2
    assert sum(p["actions"] for k, p in summary["phases"].items() if k in ("rush", "tail")) == 900
    assert set(summary["kinds"]) == {"single", "multi", "best", "hold", "cancel"}
    assert summary["kinds"]["cancel"].get("200", 0) > 0  # cancels of the rush's own bookings
    assert summary["kinds"]["hold"].get("201", 0) > 0  # hold then confirm
    assert summary["kinds"]["best"].get("201", 0) > 0  # the created show has rows
    assert set(summary["statuses"]) <= {"200", "201", "404", "409"}
    assert summary["invariants"]["seats_booked"] <= 300
    assert summary["client"]["procs"] == 2 and len(summary["client"]["cpu_percent_per_process"]) == 2
    # a second run on the same show reuses the users and reports the show's real state
    again = await rush(RushConfig(**{**config.__dict__, "show": summary["show_id"], "pattern": "sequential"}))
    assert again["ok"], again["invariants"]
    assert again["show"]["booked_before"] == summary["invariants"]["seats_booked"]


def test_command_line_closed_loop_sells_out_and_reports_the_tail_apart(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "rush.json"
    result = cinema_rush(
        server, *ADMIN, "--users", "5", "--seats", "20", "--requests", "300", "--concurrency", "40",
        "--procs", "1", "--warmup", "0.3s", "--pattern", "sequential", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # setup speaks (show id, users) and never writes \r frames into a file or pipe
    assert "\r" not in result.stderr
    summary = json.loads(out.read_text())
    assert f"created show {summary['show_id']} (20 seats)" in result.stderr
    assert "5 users signed up or reused" in result.stderr
    for words in ("requests/s", "sold-out tail (not in req/s)", "warm-up", "verdict", "OK", "client CPU"):
        assert words in result.stdout, result.stdout
    assert summary["ok"] and summary["invariants"]["seats_booked"] == 20
    rush_phase, tail = summary["phases"]["rush"], summary["phases"]["tail"]
    assert summary["sold_out_after"] is not None
    assert rush_phase["statuses"].get("201") == 20
    assert tail["requests"] > 0 and set(tail["statuses"]) == {"409"}  # every seat gone: only refusals
    assert summary["requests_per_second"] == rush_phase["requests_per_second"]
    assert summary["requests"] == rush_phase["requests"] + tail["requests"] == 300
    assert summary["phases"]["warmup"]["requests"] > 0 and set(summary["phases"]["warmup"]["statuses"]) == {"200"}
    assert summary["phases"]["warmup"]["requests"] == sum(summary["phases"]["warmup"]["statuses"].values())
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "p999", "max"}


def test_open_loop_ramp_follows_its_schedule(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "ramp.json"
    result = cinema_rush(
        server, *ADMIN, "--users", "6", "--seats", "2000", "--rate", "100:500", "--duration", "2s",
        "--procs", "2", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(out.read_text())
    assert summary["mode"] == "open" and summary["rate"] == [100, 500]
    # a linear ramp from 100/s to 500/s over 2 s is 600 arrivals, split over two processes
    assert summary["phases"]["rush"]["actions"] == 600
    assert summary["sold_out_after"] is None and summary["phases"]["tail"]["requests"] == 0
    line = summary["timeline"]
    rates = line["requests_per_second"]
    half = len(rates) // 2
    assert sum(rates[half:]) > 1.5 * sum(rates[:half])  # the second half is busier
    assert summary["ok"], summary["invariants"]


def test_show_reports_its_real_state_and_rushes_leave_one_movie(server: ServerProcess, tmp_path: Path) -> None:
    # someone else books seats on demo show 3 (40 seats) before the rush
    token = _login(server, "demo", "demo-password")
    for seat in (1, 2, 3, 4):
        _post(server, "/shows/3/book/", {"seat_number": seat}, token)
    out = tmp_path / "show.json"
    result = cinema_rush(server, "--show", "3", "--users", "4", "--requests", "200", "--procs", "1", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(out.read_text())
    assert "show 3 (40 seats)" in result.stderr
    seat_map = get(server, "/shows/3/seats/")
    assert summary["show"]["booked_before"] >= 4
    assert summary["invariants"]["seats_booked"] == len(seat_map["booked"])  # the show's, not only the rush's
    assert summary["invariants"]["by_this_rush"] < summary["invariants"]["seats_booked"]
    assert f"{len(seat_map['booked'])} of 40 booked" in result.stdout
    # runs that create shows put them all under one clearly named movie
    for _ in range(2):
        created = cinema_rush(server, *ADMIN, "--users", "2", "--seats", "5", "--requests", "20", "--procs", "1")
        assert created.returncode == 0, created.stderr
    titles = [m["title"] for m in _all_movies(server)]
    assert titles.count(RUSH_MOVIE) == 1 and not [t for t in titles if t.startswith("Rush ")]


def test_login_storm_is_a_phase_of_its_own(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "storm.json"
    result = cinema_rush(
        server, *ADMIN, "--users", "30", "--seats", "50", "--login-storm", "--requests", "100", "--procs", "1",
        "--user-prefix", "storm", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    storm = json.loads(out.read_text())["phases"]["login_storm"]
    assert storm["requests"] == 30 and storm["statuses"] == {"200": 30}
    assert storm["latency_ms"]["max"] > 0
    assert "login storm: 30 logins at once" in result.stderr and "login storm" in result.stdout


def test_setup_faults_are_one_line_and_come_first(server: ServerProcess) -> None:
    started = time.monotonic()
    wrong = cinema_rush(server, "--admin-user", "boss", "--admin-password", "not-it", "--users", "500")
    assert wrong.returncode == 2 and "login as 'boss' failed: 401" in wrong.stderr
    assert "Traceback" not in wrong.stderr and "signed up" not in wrong.stderr  # before any user is made
    missing = cinema_rush(server, "--users", "500")
    assert missing.returncode == 2 and "needs --admin-user" in missing.stderr
    _signup(server, "plain-user", "plain-password")
    not_admin = cinema_rush(server, "--admin-user", "plain-user", "--admin-password", "plain-password")
    assert not_admin.returncode == 2 and "'plain-user' is not an admin" in not_admin.stderr
    assert time.monotonic() - started < 30
    gone = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "rush", "--url", "http://127.0.0.1:9", "--show", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert gone.returncode == 2 and gone.stderr.startswith("cinema rush: cannot reach http://127.0.0.1:9")
    assert len(gone.stderr.strip().splitlines()) == 1
    bad = cinema_rush(server, "--rate", "fast")
    assert bad.returncode == 2 and "not a rate" in bad.stderr


def test_help_shows_defaults() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "rush", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for default in ("(default: http://127.0.0.1:8000)", "(default: 2000)", "(default: 100)", "(default: single=1)"):
        assert default in text, default


def _post(server: ServerProcess, path: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{server.url}{path}", json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _signup(server: ServerProcess, username: str, password: str) -> None:
    status, _ = _post(server, "/signup", {"username": username, "email": f"{username}@x.invalid", "password": password})
    assert status in (201, 409)


def _login(server: ServerProcess, username: str, password: str) -> str:
    status, body = _post(server, "/login", {"username": username, "password": password})
    assert status == 200, body
    return body["access"]


def _all_movies(server: ServerProcess) -> list[dict[str, Any]]:
    movies, page = [], get(server, "/movies/")
    while True:
        movies += page["results"]
        if not page["next"]:
            return movies
        with urllib.request.urlopen(page["next"], timeout=10) as response:
            page = json.load(response)


def test_bench_measures_the_client_ceiling_with_one_and_two_processes() -> None:
    from scripts.bench.rush import ceiling, report_lines

    figures = ceiling(requests=3000, concurrency=50, rounds=1)
    assert [f.procs for f in figures] == [1, 2]
    assert all(f.per_second > 0 and len(f.cpu_percent) == f.procs for f in figures)
    text = "\n".join(report_lines(figures))
    assert "| 1 |" in text and "| 2 |" in text and "--procs 2 / --procs 1" in text
