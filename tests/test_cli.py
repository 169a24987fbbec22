"""The `cinema` command as an operator uses it: real processes, real HTTP, real signals."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from scripts.server_process import ServerProcess, run_cinema


def call(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_refuses_a_database_that_is_behind(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run_cinema(["serve", "--port", "1"], url)
    assert result.returncode == 2
    assert "cinema migrate" in result.stderr
    server = ServerProcess(url, "--migrate")
    try:
        server.wait_ready()
    finally:
        assert server.terminate() == 0
        server.close()


def test_operator_workflow(database_url: str) -> None:
    assert run_cinema(["migrate"], database_url).returncode == 0
    seeded = run_cinema(["seed-demo"], database_url)
    assert seeded.returncode == 0, seeded.stderr
    assert "demo user 'demo'" in seeded.stdout
    assert "already present" in run_cinema(["seed-demo"], database_url).stdout  # idempotent
    admin = run_cinema(["create-admin", "boss", "--password", "boss-password"], database_url)
    assert admin.returncode == 0, admin.stderr
    assert run_cinema(["create-admin", "boss", "--password", "x"], database_url).returncode == 2

    server = ServerProcess(database_url)
    try:
        server.wait_ready()
        status, movies = call("GET", f"{server.url}/movies/")
        assert status == 200 and movies["count"] == 3
        movie = movies["results"][0]
        status, shows = call("GET", f"{server.url}/movies/{movie['id']}/shows/")
        show = shows["shows"][0]
        _, tokens = call("POST", f"{server.url}/login", {"username": "demo", "password": "demo-password"})
        status, booking = call("POST", f"{server.url}/shows/{show['id']}/book/", {"seat_number": 7}, tokens["access"])
        assert status == 201, booking
        _, boss = call("POST", f"{server.url}/login", {"username": "boss", "password": "boss-password"})
        status, _ = call("POST", f"{server.url}/movies/", {"title": "New", "duration_minutes": 99}, boss["access"])
        assert status == 201
        assert server.terminate() == 0, server.output()  # SIGTERM: drain, commit, exit 0
    finally:
        server.close()

    server = ServerProcess(database_url)
    try:
        server.wait_ready()
        status, _ = call("POST", f"{server.url}/shows/{show['id']}/book/", {"seat_number": 7}, tokens["access"])
        assert status == 409
        status, mine = call("GET", f"{server.url}/my-bookings/", token=tokens["access"])
        assert [b["id"] for b in mine] == [booking["id"]]
    finally:
        server.terminate()
        server.close()
