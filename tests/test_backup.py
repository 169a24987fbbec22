"""`cinema backup` during a rush: the copy holds every booking answered 201 before it began, and a server
started on the copy shows them (real `cinema serve`, real HTTP, a real SQLite file in WAL mode)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from scripts.testing.server_process import ServerProcess, run_cinema

USERS = 4
SHOW = 4  # the demo's IMAX: 250 seats


def call(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_backup_taken_during_a_rush_holds_every_booking_answered_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    for args in (["migrate"], ["seed-demo"]):
        assert run_cinema(args, url).returncode == 0
    server = ServerProcess(url)
    answered: list[tuple[float, int, str]] = []  # (when the 201 arrived, booking id, username)
    stop = threading.Event()
    try:
        server.wait_ready()
        tokens = []
        for index in range(USERS):
            name = f"fan{index}"
            call("POST", f"{server.url}/signup", {"username": name, "email": f"{name}@x.test", "password": "pw-123456"})
            tokens.append(call("POST", f"{server.url}/login", {"username": name, "password": "pw-123456"})[1]["access"])

        def book(index: int) -> None:
            for seat in range(1 + index, 251, USERS):  # each user its own seats: every request should win
                if stop.is_set():
                    return
                status, body = call("POST", f"{server.url}/shows/{SHOW}/book/", {"seat_number": seat}, tokens[index])
                if status == 201:
                    answered.append((time.monotonic(), body["id"], f"fan{index}"))

        rush = [threading.Thread(target=book, args=(index,)) for index in range(USERS)]
        for thread in rush:
            thread.start()
        while len(answered) < 20:
            time.sleep(0.01)
        began = time.monotonic()
        copy = tmp_path / "copy.db"
        made = run_cinema(["backup", str(copy)], url)
        ended = time.monotonic()
        time.sleep(0.2)
        stop.set()
        for thread in rush:
            thread.join(60)
        assert made.returncode == 0, made.stderr
        assert "to restore:" in made.stdout and "sqlite:///" in made.stdout
        before = [(booking, name) for when, booking, name in answered if when < began]
        during = [booking for when, booking, _ in answered if began <= when < ended]
        assert len(before) >= 20 and during, "the bookings went on while the copy was taken"
        again = run_cinema(["backup", str(copy)], url)  # never over an existing file
        assert again.returncode == 2 and "already exists" in again.stderr
    finally:
        stop.set()
        server.terminate()
        server.close()

    restored = ServerProcess(f"sqlite:///{copy}")
    try:
        restored.wait_ready()
        found: set[int] = set()
        for name in {name for _, name in before}:  # the copy has the users too (a new signing secret: log in)
            login = {"username": name, "password": "pw-123456"}
            token = call("POST", f"{restored.url}/login", login)[1]["access"]
            status, mine = call("GET", f"{restored.url}/my-bookings/", token=token)
            assert status == 200, mine
            found |= {booking["id"] for booking in mine}
        missing = [booking for booking, _ in before if booking not in found]
        assert not missing, f"{len(missing)} of {len(before)} bookings answered 201 before the backup are not in it"
    finally:
        restored.terminate()
        restored.close()


def test_backup_on_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    result = run_cinema(["backup", str(tmp_path / "x.dump")], "postgresql://postgres@127.0.0.1:5432/cinema")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "pg_dump" in result.stderr
    assert list(tmp_path.iterdir()) == []
