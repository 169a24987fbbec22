"""Every refusal of a limit is counted in /metrics by kind and logged, throttled: the counter on its own, the app's
429s on both databases, and the connection guard of a real `cinema serve`."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from dataclasses import replace
from typing import Any

import pytest

from scripts.testing.server_process import ServerProcess
from tests.hostile import call
from tests.test_hostile_connections import state
from web.app import create_app
from web.http.limit_refusals import KINDS, LimitRefusals
from web.settings import Settings


def counted(metrics_text: str, kind: str) -> float:
    found = re.search(rf'^cinema_limit_refusals_total{{kind="{kind}"}} (\S+)$', metrics_text, re.M)
    assert found, metrics_text
    return float(found.group(1))


def test_refusals_are_counted_each_and_logged_once_a_window(caplog: pytest.LogCaptureFixture) -> None:
    refusals = LimitRefusals(log_every_seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="cinema.limits"):
        for _ in range(5):
            refusals.note("signups", "198.51.100.1")
        refusals.note("connections", "198.51.100.2")  # another kind has its own line
        time.sleep(0.25)
        refusals.note("signups", "198.51.100.1")
        refusals.note("refreshes", "198.51.100.1", logged=False)  # counted only: another line tells
    lines = [record.fields for record in caplog.records]  # type: ignore[attr-defined]
    assert [line["kind"] for line in lines] == ["signups", "connections", "signups"]
    assert "similar_not_logged" not in lines[0] and lines[2]["similar_not_logged"] == 4
    assert refusals.counts["signups"] == 6 and refusals.counts["refreshes"] == 1
    assert set(refusals.counts) == set(KINDS)


async def test_the_apps_429s_are_counted_by_kind(aiohttp_client: Any, settings: Settings) -> None:
    limited = replace(settings, signups_per_address=1, login_attempts_per_address=2, refreshes_per_address=1)
    client = await aiohttp_client(create_app(limited))
    body = {"username": "counted", "email": "c@example.com", "password": "correct-horse-7"}
    assert [(await client.post("/signup", json=body)).status for _ in range(3)] == [201, 429, 429]
    login = {"username": "counted", "password": "correct-horse-7"}
    assert [(await client.post("/login", json=login)).status for _ in range(3)] == [200, 200, 429]
    assert [(await client.post("/login/refresh/", json={"refresh": "x"})).status for _ in range(2)] == [401, 429]
    text = await (await client.get("/metrics")).text()
    assert counted(text, "signups") == 2
    assert counted(text, "logins_per_address") == 1
    assert counted(text, "refreshes") == 1
    assert counted(text, "connections") == 0


def test_connection_refusals_are_counted_and_logged_throttled(database_url: str) -> None:
    server = ServerProcess(database_url, CINEMA_MAX_CONNECTIONS_PER_SOURCE="3", CINEMA_HEADER_TIMEOUT="5")
    try:
        server.wait_ready()
        sockets = [
            socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=("127.0.0.9", 0))
            for _ in range(8)
        ]
        time.sleep(0.3)
        assert [state(sock) for sock in sockets].count("refused") == 5
        for sock in sockets:
            sock.close()
        metrics = call(server, "GET", "/metrics")
        assert counted(metrics.body.decode(), "connections_per_source") == 5
        lines = [json.loads(line) for line in server.output().splitlines() if "limit refused" in line]
        assert len(lines) == 1, lines  # five refusals within the window: one line
        assert lines[0]["kind"] == "connections_per_source" and lines[0]["remote"] == "127.0.0.9"
        assert lines[0]["level"] == "WARNING"
    finally:
        server.close()
