"""The ladder benchmark's server: the service's app with measuring routes that answer as the book path does
and commit nothing, so what each rung adds is a layer's cost and no rung books a seat."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from scripts.bench.http_path import Target, WrkFigure, bare_handler
from scripts.bench.ladder import PIECES, ROUTES, RUNGS, Rung, section
from scripts.testing.server_process import ServerProcess, run_cinema

SEED_ANSWER = {"id", "user", "show", "seat_number", "status", "created_at", "order", "ticket"}


def _call(server: ServerProcess, path: str, body: dict[str, Any] | None = None, token: str = "") -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_rungs_answer_like_the_book_path_and_book_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/ladder.db"
    for args in (["migrate"], ["seed-demo"]):
        assert run_cinema(args, url).returncode == 0
    server = ServerProcess(url, module="scripts.bench.ladder")
    try:
        server.wait_ready()
        _call(server, "/signup", {"username": "ladder", "email": "l@x.invalid", "password": "ladder-password"})
        token = _call(server, "/login", {"username": "ladder", "password": "ladder-password"})[1]["access"]
        show = _call(server, "/movies/1/shows/")[1]["shows"][0]["id"]
        status, booked = _call(server, f"/shows/{show}/book/", {"seat_number": 1}, token)
        assert status == 201
        for _, prefix, _ in ROUTES:
            status, answer = _call(server, f"{prefix}/shows/{show}/book/", {"seat_number": 2}, token)
            assert status == 201 and SEED_ANSWER <= answer.keys() <= booked.keys(), (prefix, answer)
            assert _call(server, f"{prefix}/shows/{show}/book/", {"seat_number": "2"}, token)[0] == 400
        broken = urllib.request.Request(server.url + f"/ladder/http/shows/{show}/book/", data=b"{")
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(broken, timeout=10)
        assert raised.value.code == 400 and json.load(raised.value)["code"] == "invalid_json"
        for prefix in ("/ladder/auth", "/ladder/checks", "/ladder/answer"):  # the token check is a real one
            assert _call(server, f"{prefix}/shows/{show}/book/", {"seat_number": 2})[0] == 401
        assert answer.keys() == booked.keys()  # the answer rung's: with the demo show's seat label and price
        seats = _call(server, f"/shows/{show}/seats/")[1]
        assert seats["booked"] == [1], seats  # seat 2 was answered four times and never booked
    finally:
        server.terminate()
        server.close()


def test_the_section_names_each_rung_and_what_it_adds() -> None:
    def figure(cpu: float, loop: float) -> WrkFigure:
        return WrkFigure("x", 1000, 1.0, 1, 1, 1, 1, 0, 0, cpu_seconds=cpu, loop_cpu_seconds=loop)

    costs = [(0.040 + n * 0.005, 0.040 + n * 0.005) for n in range(len(RUNGS) - 1)] + [(0.120, 0.100)]
    rungs = [Rung(name, what, [figure(*c)]) for (name, what), c in zip(RUNGS, costs, strict=True)]
    text = section(rungs, 8, 100, "stamp")
    assert "| http |" in text and "| middleware |" in text and "+5 µs" in text and "| 3.00 |" in text
    assert "the journal's writer thread" in text and "spends 20 µs" in text
    assert Target("t", "u").prefix == ""


def test_the_layers_server_is_the_bare_handler_with_the_service_pieces_asked_for() -> None:
    every = ",".join(PIECES)
    with bare_handler("all", "scripts.bench.ladder", "layers", "--with", every) as server:
        request = urllib.request.Request(
            server.url + "/shows/1/book/", data=b'{"seat_number": 3}', headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201 and response.headers["X-Request-ID"]  # the signal
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(server.url + "/nope", timeout=10)
        assert raised.value.code == 404 and json.load(raised.value)["code"] == "not_found"  # the error middleware
    with bare_handler("bare", "scripts.bench.ladder", "layers", "--with", "none") as server:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(server.url + "/nope", timeout=10)
        assert raised.value.code == 404 and "X-Request-ID" not in raised.value.headers  # nothing of the service
