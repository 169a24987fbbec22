"""The `cinema` command as an operator uses it: real processes, real HTTP, real signals."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from scripts.testing.server_process import CINEMA, ROOT, ServerProcess, cinema_env, free_port, run_cinema


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
    admin = run_cinema(["create-admin", "boss"], database_url, CINEMA_ADMIN_PASSWORD="boss-password")
    assert admin.returncode == 0, admin.stderr

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


def one_line_fault(result: Any) -> str:
    """A CLI fault: non-zero exit, exactly one line on stderr, no traceback."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cinema: "), result.stderr
    return lines[0]


def test_serve_on_a_port_in_use_says_so_in_one_line_and_never_claims_to_serve(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert run_cinema(["migrate"], url).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cinema(["serve", "--port", str(port)], url)
    line = one_line_fault(result)
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in line
    assert "serving on" not in result.stdout


def test_commands_before_migrate_say_what_to_run(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    for args in (["seed-demo"], ["serve", "--port", str(free_port())]):
        assert "run `cinema migrate`" in one_line_fault(run_cinema(args, url))
    assert "run `cinema migrate`" in one_line_fault(
        run_cinema(["create-admin", "boss"], url, CINEMA_ADMIN_PASSWORD="p" * 8)
    )


def test_an_unreachable_postgresql_is_one_line() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/cinema"  # nothing listens there
    for args in (["migrate"], ["seed-demo"], ["serve", "--port", str(free_port())]):
        line = one_line_fault(run_cinema(args, url))
        assert "cannot connect" in line and "postgres@127.0.0.1" in line, line


def test_a_postgresql_database_that_does_not_exist_is_one_line() -> None:
    server = os.environ.get("CINEMA_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("needs CINEMA_TEST_POSTGRES_URL")
    url = server.rsplit("/", 1)[0] + "/no_such_database_for_cinema"
    for args in (["migrate"], ["serve", "--port", str(free_port())]):
        line = one_line_fault(run_cinema(args, url))
        assert 'database "no_such_database_for_cinema" does not exist' in line, line


def test_a_database_url_that_makes_no_sense_is_one_line() -> None:
    assert "is not usable" in one_line_fault(run_cinema(["migrate"], "nonsense://"))


def test_create_admin_takes_the_password_from_the_environment_or_stdin_and_never_resets_silently(
    tmp_path: Any,
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert run_cinema(["migrate"], url).returncode == 0
    assert "no password" in one_line_fault(with_stdin(["create-admin", "boss"], url, ""))
    assert "at least 8" in one_line_fault(run_cinema(["create-admin", "boss"], url, CINEMA_ADMIN_PASSWORD="short"))
    created = run_cinema(["create-admin", "boss"], url, CINEMA_ADMIN_PASSWORD="first-password")
    assert created.returncode == 0 and "admin 'boss' created" in created.stdout, created.stderr
    again = run_cinema(["create-admin", "boss"], url, CINEMA_ADMIN_PASSWORD="second-password")
    assert "already exists; nothing changed" in one_line_fault(again)

    server = ServerProcess(url)
    try:
        server.wait_ready()
        assert call("POST", f"{server.url}/login", {"username": "boss", "password": "first-password"})[0] == 200
        reset = with_stdin(["create-admin", "boss", "--reset-password"], url, "second-password\n")
        assert reset.returncode == 0 and "with the new password" in reset.stdout, reset.stderr
        status, tokens = call("POST", f"{server.url}/login", {"username": "boss", "password": "second-password"})
        assert status == 200
        status, _ = call("POST", f"{server.url}/movies/", {"title": "New", "duration_minutes": 9}, tokens["access"])
        assert status == 201
    finally:
        server.terminate()
        server.close()


def with_stdin(args: list[str], url: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = cinema_env(url)
    env.pop("CINEMA_ADMIN_PASSWORD", None)
    return subprocess.run([*CINEMA, *args], env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60)
