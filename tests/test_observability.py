"""Metrics, health checks and structured logs, as an operator would read them."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import pytest

from scripts.rush.runner import RushConfig, rush
from tests.conftest import Api
from tests.test_durability import install_fault, remove_fault
from web.http.observability import JsonLogFormatter, LoopHistogram


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if wanted else "") + r" ([0-9.e+-]+)"
    match = re.search(r"^" + pattern + "$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_metrics_move_during_a_rush(api: Api) -> None:
    await api.admin_with_password("metrics-admin", "metrics-admin-password")
    before = await (await api.client.get("/metrics")).text()
    base = str(api.client.make_url("")).rstrip("/")
    summary = await rush(
        RushConfig(
            base_url=base,
            users=5,
            seats=50,
            requests=300,
            concurrency=40,
            admin_user="metrics-admin",
            admin_password="metrics-admin-password",
            progress=False,
        )
    )
    assert summary["ok"], summary
    async with api.client.ws_connect(f"/shows/{summary['show_id']}/events") as ws:
        await ws.receive_json()
        after = await (await api.client.get("/metrics")).text()
        assert sample(after, "cinema_live_subscribers") == 1
    booked = summary["statuses"].get("201", 0)
    route = "/shows/{id}/book/"
    assert (
        sample(after, "cinema_http_requests_total", method="POST", route=route, status="201")
        - sample(before, "cinema_http_requests_total", method="POST", route=route, status="201")
        == booked
    )
    assert sample(after, "cinema_http_requests_total", method="POST", route=route, status="409") >= 300 - booked - 1
    assert sample(after, "cinema_booking_seconds_count") >= 300
    assert sample(after, "cinema_journal_batch_records_count") >= 1
    assert sample(after, "cinema_journal_batch_records_sum") >= booked
    assert sample(after, "cinema_journal_commit_seconds_count") >= 1
    assert "cinema_mailbox_depth" in after and "cinema_journal_queue_depth" in after
    assert sample(after, "cinema_http_requests_total", method="POST", route="/login", status="200") >= 5


async def test_health_and_readiness(api: Api, database_url: str) -> None:
    assert await (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"
    show = await api.show(total_seats=3)
    user = await api.user()
    await install_fault(database_url, "insert")
    assert (await api.book(show["id"], 1, user["headers"])).status == 503
    not_ready = await api.client.get("/readyz")
    assert not_ready.status == 503
    assert (await not_ready.json())["journal"].startswith("unhealthy")
    await remove_fault(database_url)
    assert (await api.book(show["id"], 1, user["headers"])).status == 201
    assert (await api.client.get("/readyz")).status == 200


async def test_request_ids(api: Api) -> None:
    given = await api.client.get("/movies/", headers={"X-Request-ID": "kiosk-7.abc"})
    assert given.headers["X-Request-ID"] == "kiosk-7.abc"
    made = await api.client.get("/movies/", headers={"X-Request-ID": "bad id; with spaces"})
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-ID"])
    assert (await api.client.get("/nope")).headers["X-Request-ID"]


async def test_one_json_line_per_request_without_secrets(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cinema.access")
    user = await api.user("logged", "correct-horse-7")
    await asyncio.gather(*(api.client.get("/my-bookings/", headers=user["headers"]) for _ in range(3)))
    formatter = JsonLogFormatter()
    lines = [json.loads(formatter.format(record)) for record in caplog.records if record.name == "cinema.access"]
    mine = [line for line in lines if line["route"] == "/my-bookings/"]
    assert len(mine) == 3
    for line in mine:
        assert set(line) >= {"ts", "level", "msg", "request_id", "method", "route", "status", "ms"}
        assert line["status"] == 200 and line["request_id"] != "-"
    assert len({line["request_id"] for line in mine}) == 3
    text = "\n".join(formatter.format(record) for record in caplog.records)
    assert user["tokens"]["access"] not in text and "correct-horse-7" not in text and "$2b$" not in text
    assert all("\n" not in formatter.format(record) for record in caplog.records)


def test_exceptions_stay_on_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record: Any = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    line = JsonLogFormatter().format(record)
    assert "\n" not in line and json.loads(line)["exc"].startswith("Traceback")


async def test_request_counts_have_a_bounded_label_set(api: Api) -> None:
    for method in ("PROPFIND", "MKCOL", "GET"):  # any method token aiohttp accepts could be sent
        await api.client.request(method, "/movies/")
    text = await (await api.client.get("/metrics")).text()
    assert sample(text, "cinema_http_requests_total", method="other", route="unmatched", status="405") == 2
    assert sample(text, "cinema_http_requests_total", method="GET", route="/movies/", status="200") >= 1
    assert "PROPFIND" not in text and "MKCOL" not in text


def test_booking_histogram_buckets_are_inclusive() -> None:
    histogram = LoopHistogram((0.001, 0.01))
    for value in (0.0005, 0.001, 0.002, 0.01, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("0.001", 2), ("0.01", 4), ("+Inf", 5)]
    assert histogram.sum == 3.0135
