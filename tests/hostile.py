"""Helpers for the hostile-client tests: a real `cinema serve` process and a plain HTTP client without opinions."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from scripts.testing.server_process import ServerProcess, run_cinema

JWT_SECRET = "hostile-test-secret-0123456789abcdef"
ADMIN = ("hostile-admin", "hostile-admin-password")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), (self.status, self.headers)
        return json.loads(self.body)


def call(
    server: ServerProcess,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 30,
    source: str = "127.0.0.1",
) -> Answer:
    """One request on a fresh connection from `source` (any 127.x.y.z); `raw` is sent as is, `body` as JSON."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout, source_address=(source, 0))
    try:
        sent = dict(headers or {})
        if body is not None:
            raw = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=raw, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def login(server: ServerProcess, username: str, password: str, source: str = "127.0.0.1") -> dict[str, str]:
    answer = call(server, "POST", "/login", {"username": username, "password": password}, source=source)
    assert answer.status == 200, answer
    return answer.json()


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access']}"}


def start_server(database_url: str, *args: str, admin: bool = True, **env: str) -> ServerProcess:
    if admin:
        created = run_cinema(["create-admin", ADMIN[0], "--password", ADMIN[1]], database_url)
        assert created.returncode == 0, created.stderr
    server = ServerProcess(database_url, *args, CINEMA_JWT_SECRET=JWT_SECRET, **env)
    server.wait_ready()
    return server


@contextmanager
def clean_server(database_url: str, **env: str) -> Iterator[ServerProcess]:
    """A server for one test that must also stop cleanly: exit 0, no traceback and no ERROR line in its log."""
    process = start_server(database_url, **env)
    try:
        yield process
        assert process.terminate() == 0, process.output()
        assert "Traceback" not in process.output(), process.output()
        assert '"level":"ERROR"' not in process.output(), process.output()
    finally:
        process.close()


def signup(
    server: ServerProcess, username: str, password: str = "correct-horse-7", source: str = "127.0.0.1"
) -> Answer:
    body = {"username": username, "email": "someone@example.com", "password": password}
    return call(server, "POST", "/signup", body, source=source)


def new_show(server: ServerProcess, total_seats: int = 20) -> int:
    admin = bearer(login(server, *ADMIN))
    movie = call(server, "POST", "/movies/", {"title": "Hostile", "duration_minutes": 90}, admin)
    assert movie.status == 201, movie
    show = call(
        server,
        "POST",
        f"/movies/{movie.json()['id']}/shows/",
        # a screen per show: one screen shows one film at a time, and these shows all start at once
        {"screen_name": f"S-{uuid.uuid4().hex[:8]}", "date_time": "2030-01-01T20:00:00Z", "total_seats": total_seats},
        admin,
    )
    assert show.status == 201, show
    return show.json()["id"]
