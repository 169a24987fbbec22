"""A small `cinema rush` keeps the load tester working: invariants, not speed."""

from __future__ import annotations

import json
import subprocess
import sys

from scripts.rush import RushConfig, rush
from scripts.server_process import ROOT, ServerProcess, cinema_env, run_cinema
from tests.conftest import Api


async def test_rush_against_the_app(api: Api) -> None:
    await api.admin_with_password("rush-admin", "rush-admin-password")
    base = str(api.client.make_url("")).rstrip("/")
    config = RushConfig(
        base_url=base,
        users=8,
        seats=30,
        requests=400,
        concurrency=50,
        pattern="hot",
        hot_seats=4,
        cancel_ratio=0.2,
        admin_user="rush-admin",
        admin_password="rush-admin-password",
        progress=False,
        seed=3,
    )
    summary = await rush(config)
    assert summary["ok"], summary
    assert summary["requests"] == 400
    assert summary["invariants"]["seats_booked"] <= 30
    assert set(summary["statuses"]) <= {"200", "201", "404", "409"}
    # users are reused on a second run against an existing show
    again = await rush(RushConfig(**{**config.__dict__, "show": summary["show_id"], "pattern": "sequential"}))
    assert again["ok"], again
    assert again["invariants"]["seats_booked"] >= summary["invariants"]["seats_booked"]


def test_rush_command_prints_table_and_json(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert run_cinema(["create-admin", "boss", "--password", "boss-password"], database_url).returncode == 0
    server = ServerProcess(database_url)
    try:
        server.wait_ready()
        out = tmp_path / "rush.json"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "scripts.cli",
                "rush",
                "--url",
                server.url,
                "--users",
                "5",
                "--seats",
                "20",
                "--requests",
                "300",
                "--concurrency",
                "40",
                "--admin-user",
                "boss",
                "--admin-password",
                "boss-password",
                "--json",
                str(out),
            ],
            env=cinema_env(database_url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "requests/s" in result.stdout and "verdict" in result.stdout and "OK" in result.stdout
        assert "300/300" in result.stderr  # the progress bar
        summary = json.loads(out.read_text())
        assert summary["ok"] and summary["invariants"]["seats_booked"] == 20
        assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}
    finally:
        server.terminate()
        server.close()
