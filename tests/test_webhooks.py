"""Webhooks and the change feed, against real receivers (aiohttp servers on loopback) and both databases."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import bcrypt
import orjson
import pytest
from aiohttp import web

from scripts.testing.server_process import ServerProcess, free_port
from storage.database import open_engine
from storage.outbox import journal_events
from storage.repository import Repository
from storage.webhooks import WebhookStore
from tests.conftest import Api
from web.app import create_app
from web.hooks.schedule import MAX_BACKOFF_SECONDS, after_attempt, backoff
from web.hooks.signing import signature, verify
from web.hooks.targets import TargetRefused, check_url
from web.settings import Settings


class Receiver:
    """A webhook receiver on loopback: records every request; answers `statuses` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None, hang: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.hang = hang
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        self.arrived.set()
        if self.hang:
            await asyncio.sleep(self.hang)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.received]

    async def wait_for(self, count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{len(self.received)} of {count} requests arrived"
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                pass


@pytest.fixture
async def hooks_api(aiohttp_client: Any, settings: Settings) -> AsyncIterator[Api]:
    quick = dataclasses.replace(
        settings, webhook_allow_private=True, webhook_backoff_seconds=0.05, webhook_poll_seconds=0.05
    )
    client = await aiohttp_client(create_app(quick), connector=aiohttp.TCPConnector(limit=400))
    yield Api(client)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


async def register(api: Api, admin: dict[str, Any], url: str, events: list[str]) -> dict[str, Any]:
    answer = await api.client.post("/webhooks/", json={"url": url, "events": events}, headers=admin["headers"])
    assert answer.status == 201, await answer.text()
    return await answer.json()


# --- pure parts ------------------------------------------------------------------------------------------------
def test_signature_is_stripes_scheme_and_verifies() -> None:
    body = b'{"id": 1}'
    header = signature("whsec_x", body, 1_700_000_000)
    import hashlib
    import hmac

    mac = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"
    assert verify("whsec_x", body, header, now=1_700_000_010)
    assert not verify("whsec_y", body, header, now=1_700_000_010)  # another secret
    assert not verify("whsec_x", body + b" ", header, now=1_700_000_010)  # another body
    assert not verify("whsec_x", body, header, now=1_700_001_000)  # too old: a replay


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.1.2.3/",
        "https://192.168.0.9:8443/x",
        "http://172.16.5.5/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://localhost:9000/",
        "ftp://93.184.216.34/",
        "http://user:pw@93.184.216.34/",
    ],
)
def test_private_and_odd_targets_are_refused_without_a_lookup(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, allow_private=False)


def test_public_numeric_targets_pass_and_private_ones_pass_when_allowed() -> None:
    assert check_url("https://93.184.216.34/hook", allow_private=False)[1] == "93.184.216.34"
    assert check_url("http://[2606:4700::1111]/", allow_private=False)[1] == "2606:4700::1111"
    assert check_url("http://127.0.0.1:8000/hook", allow_private=True)[1] == "127.0.0.1"


def test_backoff_doubles_with_jitter_and_the_window_ends_in_failure() -> None:
    for attempt in range(1, 6):
        wait = backoff(attempt, 10.0)
        assert 10.0 * 2 ** (attempt - 1) * 0.5 <= wait <= 10.0 * 2 ** (attempt - 1)
    assert backoff(40, 10.0) <= MAX_BACKOFF_SECONDS
    assert after_attempt(204, 1, 100.0, 0.0, 3600, 10).state == "delivered"
    assert after_attempt(500, 1, 100.0, 0.0, 3600, 10).state == "pending"
    assert after_attempt(None, 3, 100.0, 0.0, 3600, 10).at > 100.0
    assert after_attempt(500, 9, 100.0, 3599.0, 3600, 10).state == "failed"  # the next try would be too late
    gone = after_attempt(410, 1, 100.0, 0.0, 3600, 10)
    assert gone.state == "failed" and gone.disable


def test_journal_records_become_booking_and_order_events() -> None:
    from datetime import UTC, datetime

    from engine.ports import BookRecord, CancelRecord, CheckInRecord, HoldEndRecord, HoldRecord

    at = datetime(2030, 1, 1, tzinfo=UTC)
    records = [BookRecord(7, 3, 11, at), BookRecord(7, 3, 12, at, False), CancelRecord(7, 5, 3, 4, at, 5, True)]
    events = journal_events(records, [100, 101, 5])
    assert [e[0] for e in events] == [
        "booking.created",
        "booking.created",
        "order.created",
        "booking.cancelled",
        "order.cancelled",
    ]
    hold = [HoldRecord(7, "h1", 3, (1, 2), at, at), HoldEndRecord(7, "h1", 3, (1, 2), "expired", at)]
    door = [CheckInRecord(7, 100, 9, 11, at), HoldEndRecord(7, "h2", 3, (5,), "released", at)]
    assert [e[0] for e in journal_events(hold + door, [None, None, 100, None])] == [
        "hold.created",
        "hold.expired",
        "checkin.created",
    ]
    order = orjson.loads(events[2][2])["order"]
    assert order["id"] == 100 and order["booking_ids"] == [100, 101] and order["seat_numbers"] == [11, 12]
    assert orjson.loads(events[1][2])["booking"]["order"] == 100


def test_counter_sales_carry_prices_and_refunds_become_order_refunded() -> None:
    from datetime import UTC, datetime

    from engine.ports import BookRecord, CancelRecord, CounterSale, RefundNote

    at = datetime(2030, 1, 1, tzinfo=UTC)
    sale = CounterSale(sold_by=2, payment="cash")
    records = [
        BookRecord(7, 2, 11, at, True, "adult", 1200, sale),
        BookRecord(7, 2, 12, at, False, "child", 800),
        CancelRecord(7, 100, 2, 11, at, 100, False, RefundNote(100, (11, 12), 2000, "EUR", "cash")),
        CancelRecord(7, 101, 2, 12, at, 100, True),
    ]
    events = journal_events(records, [100, 101, 100, 101])
    assert [e[0] for e in events] == [
        "booking.created",
        "booking.created",
        "order.created",
        "booking.cancelled",
        "order.refunded",
        "booking.cancelled",
        "order.cancelled",
    ]
    child = orjson.loads(events[1][2])["booking"]
    assert (child["ticket_type"], child["price"]) == ("child", 800)
    order = orjson.loads(events[2][2])["order"]
    assert (order["channel"], order["total"]) == ("counter", 2000)
    refund = orjson.loads(events[4][2])["refund"]
    assert refund == {
        "order": 100,
        "seat_numbers": [11, 12],
        "amount": 2000,
        "currency": "EUR",
        "method": "cash",
        "refunded_at": at.isoformat(),
    }


# --- against real receivers ----------------------------------------------------------------------------------
async def test_a_booking_is_delivered_within_2_s_signed(hooks_api: Api, receiver: Receiver) -> None:
    api = hooks_api
    admin = await api.admin()
    hook = await register(api, admin, receiver.url, ["booking.created"])
    assert hook["secret"].startswith("whsec_") and hook["active"]
    listed = await (await api.client.get("/webhooks/", headers=admin["headers"])).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    show = await api.show(total_seats=20, title="Signed")
    user = await api.user()
    started = time.monotonic()
    booked = await api.book(show["id"], 7, user["headers"])
    assert booked.status == 201
    booking = await booked.json()
    await receiver.wait_for(1, seconds=2.0)
    assert time.monotonic() - started < 2.0
    headers, body = receiver.received[0]
    assert verify(hook["secret"], body, headers["Cinema-Signature"], now=time.time())
    event = orjson.loads(body)
    assert headers["Cinema-Event-Id"] == str(event["id"])
    assert event["type"] == "booking.created" and set(event) == {"id", "type", "created_at", "data"}
    data = event["data"]
    assert data["booking"]["id"] == booking["id"] and data["booking"]["seat_number"] == 7
    assert data["booking"]["user"] == user["id"] and data["booking"]["order"] == booking["order"]
    assert data["show"]["id"] == show["id"] and data["show"]["movie"]["title"] == "Signed"
    assert "ticket" not in data["booking"] and b"password" not in body and b"hash" not in body


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(hooks_api: Api) -> None:
    api = hooks_api
    failing = Receiver(statuses=[500, 500])
    await failing.start()
    try:
        admin = await api.admin()
        hook = await register(api, admin, failing.url, ["booking.created"])
        show = await api.show()
        user = await api.user()
        assert (await api.book(show["id"], 1, user["headers"])).status == 201
        await failing.wait_for(3, seconds=5.0)
        ids = {h["Cinema-Event-Id"] for h, _ in failing.received}
        assert len(ids) == 1, "the same event, tried three times"
        deadline = time.monotonic() + 3
        while True:
            answer = await api.client.get(f"/webhooks/{hook['id']}/deliveries/", headers=admin["headers"])
            attempts = await answer.json()
            if len(attempts) == 3 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert [a["status_code"] for a in attempts] == [200, 500, 500]  # newest first
        assert [a["attempt"] for a in attempts] == [3, 2, 1]
        assert {str(a["event_id"]) for a in attempts} == ids
        assert all(a["duration_ms"] >= 0 and a["at"] for a in attempts)
    finally:
        await failing.stop()


async def test_410_disables_the_hook(hooks_api: Api) -> None:
    api = hooks_api
    gone = Receiver(statuses=[410])
    await gone.start()
    try:
        admin = await api.admin()
        hook = await register(api, admin, gone.url, ["booking.created"])
        show = await api.show()
        user = await api.user()
        for seat in (1, 2):
            assert (await api.book(show["id"], seat, user["headers"])).status == 201
        await gone.wait_for(1, seconds=3.0)
        deadline = time.monotonic() + 3
        while True:
            listed = await (await api.client.get("/webhooks/", headers=admin["headers"])).json()
            if not listed[0]["active"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert listed[0]["id"] == hook["id"] and not listed[0]["active"] and "410" in listed[0]["disabled_reason"]
        await asyncio.sleep(0.3)
        assert len(gone.received) == 1, "nothing more is sent to a hook whose receiver answered 410"
    finally:
        await gone.stop()


async def test_admin_routes_refuse_private_targets_and_strangers(api: Api, receiver: Receiver) -> None:
    """Without CINEMA_WEBHOOK_ALLOW_PRIVATE: loopback and private addresses are refused, named by their number."""
    admin = await api.admin()
    for url in (receiver.url, "http://10.0.0.8/hook", "http://169.254.169.254/", "http://[::1]:9/"):
        asked = {"url": url, "events": ["booking.created"]}
        answer = await api.client.post("/webhooks/", json=asked, headers=admin["headers"])
        assert answer.status == 400, url
        assert (await answer.json())["code"] == "webhook_target_refused"
    asked = {"url": "https://93.184.216.34/", "events": ["nope"]}
    bad = await api.client.post("/webhooks/", json=asked, headers=admin["headers"])
    assert bad.status == 400 and (await bad.json())["code"] == "invalid_input"
    user = await api.user()
    for method, path in (("GET", "/webhooks/"), ("GET", "/events/"), ("POST", "/webhooks/")):
        answer = await api.client.request(method, path, headers=user["headers"], json={})
        assert answer.status == 403, path
    assert (await api.client.delete("/webhooks/999/", headers=admin["headers"])).status == 404
    assert (await api.client.get("/events/?limit=0", headers=admin["headers"])).status == 400
    assert (await api.client.get("/events/?after=-1", headers=admin["headers"])).status == 400


async def test_ping_and_delete(hooks_api: Api, receiver: Receiver) -> None:
    api = hooks_api
    admin = await api.admin()
    hook = await register(api, admin, receiver.url, ["show.created"])
    tested = await (await api.client.post(f"/webhooks/{hook['id']}/test/", headers=admin["headers"])).json()
    assert tested["delivered"] and tested["status_code"] == 200
    headers, body = receiver.received[0]
    assert orjson.loads(body)["type"] == "webhook.test"
    assert verify(hook["secret"], body, headers["Cinema-Signature"], now=time.time())
    deleted = await api.client.delete(f"/webhooks/{hook['id']}/", headers=admin["headers"])
    assert deleted.status == 200
    assert await (await api.client.get("/webhooks/", headers=admin["headers"])).json() == []
    await api.show()
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 1, "a deleted hook hears nothing more"


async def test_the_feed_lists_what_the_receiver_got_in_the_same_order_per_show(
    hooks_api: Api, receiver: Receiver
) -> None:
    api = hooks_api
    admin = await api.admin()
    every = [
        "booking.created",
        "booking.cancelled",
        "order.created",
        "order.cancelled",
        "hold.created",
        "show.created",
    ]
    await register(api, admin, receiver.url, every)
    shows = [await api.show(total_seats=30, title=f"Feed {n}") for n in range(2)]
    user = await api.user()
    booking_ids = []
    for seat in range(1, 6):
        for show in shows:
            answer = await api.book(show["id"], seat, user["headers"])
            assert answer.status == 201
            booking_ids.append((await answer.json())["id"])
    assert (await api.client.post(f"/bookings/{booking_ids[0]}/cancel/", headers=user["headers"])).status == 200
    pair = await api.client.post(
        f"/shows/{shows[1]['id']}/book/", json={"seat_numbers": [20, 21]}, headers=user["headers"]
    )
    assert pair.status == 201
    order = (await pair.json())["order"]
    assert (await api.client.post(f"/orders/{order}/cancel/", headers=user["headers"])).status == 200
    held = await api.client.post(f"/shows/{shows[0]['id']}/hold/", json={"seat_numbers": [25]}, headers=user["headers"])
    assert held.status == 201
    # 2 shows + 10 bookings and their 10 orders + 1 cancel (and its order) + 2 bookings, 1 order, 2 cancels,
    # 1 order cancelled + 1 hold
    expected = 2 + 20 + 2 + 3 + 3 + 1
    await receiver.wait_for(expected, seconds=10.0)
    feed = await (await api.client.get("/events/?limit=1000", headers=admin["headers"])).json()
    assert feed["next_after"] == feed["events"][-1]["id"]
    listed = feed["events"]
    assert [e["id"] for e in listed] == sorted(e["id"] for e in listed)
    got = receiver.events()
    assert sorted(e["id"] for e in got) == [e["id"] for e in listed], "the same events, none lost"
    for show in shows:
        mine = [e for e in got if e["data"]["show"]["id"] == show["id"]]
        fed = [e for e in listed if e["data"]["show"]["id"] == show["id"]]
        assert mine == fed, "a receiver hears of a show's changes in the order the feed lists them"
    types = [e["type"] for e in listed]
    assert types.count("order.cancelled") == 2 and types.count("booking.cancelled") == 3
    cancelled = next(e for e in listed if e["type"] == "order.cancelled" and e["data"]["order"]["id"] == order)
    assert cancelled["data"]["show"]["id"] == shows[1]["id"]
    page = await (await api.client.get(f"/events/?after={listed[3]['id']}&limit=2", headers=admin["headers"])).json()
    assert page["events"] == listed[4:6] and page["next_after"] == listed[5]["id"]


async def test_a_hanging_receiver_does_not_hold_up_bookings(hooks_api: Api) -> None:
    """The receiver holds every delivery open for 30 s; meanwhile 100 bookings are all answered (the p99 side by
    side is in the benchmark: cinema bench --only outbox)."""
    api = hooks_api
    hanging = Receiver(hang=30.0)
    await hanging.start()
    try:
        admin = await api.admin()
        await register(api, admin, hanging.url, ["booking.created"])
        shows = [await api.show(total_seats=60) for _ in range(3)]
        user = await api.user()
        for show in shows:
            assert (await api.book(show["id"], 60, user["headers"])).status == 201
        await hanging.wait_for(3, seconds=3.0)  # one per show in flight, each held open
        started = time.monotonic()
        answers = await asyncio.gather(*(api.book(shows[n % 3]["id"], n // 3 + 1, user["headers"]) for n in range(100)))
        assert [a.status for a in answers] == [201] * 100
        assert time.monotonic() - started < 30.0, "answered while every delivery was still hanging"
        assert len(hanging.received) == 3, "per show one delivery at a time: the rest wait their turn"
    finally:
        await hanging.stop()


async def test_events_promised_by_201s_survive_sigkill_and_arrive_once_the_receiver_is_up(database_url: str) -> None:
    """Receiver down; 50 bookings answered 201; the server killed with SIGKILL and started again; then the receiver
    starts: every one of the 50 booking.created events arrives (duplicates allowed, each with its event id)."""
    env = {
        "CINEMA_JWT_SECRET": "webhook-kill-test-secret-long-enough",
        "CINEMA_WEBHOOK_ALLOW_PRIVATE": "1",
        "CINEMA_WEBHOOK_BACKOFF_SECONDS": "0.05",
        "CINEMA_WEBHOOK_POLL_SECONDS": "0.05",
        "CINEMA_LEASE_SECONDS": "1",  # the killed process's lease on the hook runs out quickly
    }
    database = open_engine(database_url)  # migrated by the fixture; the admin as `cinema create-admin` makes one
    try:
        password_hash = bcrypt.hashpw(b"hook-admin-password", bcrypt.gensalt(4)).decode()
        await Repository(database).create_user("hook-admin", "a@x.io", password_hash, is_admin=True)
    finally:
        await database.dispose()
    receiver = Receiver()
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    server = ServerProcess(database_url, **env)
    booked: set[int] = set()
    try:
        await asyncio.to_thread(server.wait_ready)
        async with aiohttp.ClientSession(server.url) as session:

            async def login(username: str, password: str) -> dict[str, str]:
                async with session.post("/login", json={"username": username, "password": password}) as answer:
                    return {"Authorization": f"Bearer {(await answer.json())['access']}"}

            admin = await login("hook-admin", "hook-admin-password")
            async with session.post("/webhooks/", json={"url": url, "events": ["booking.created"]}, headers=admin) as r:
                assert r.status == 201, await r.text()
            async with session.post("/movies/", json={"title": "Kill", "duration_minutes": 90}, headers=admin) as r:
                movie = await r.json()
            when = {"screen_name": "K", "date_time": "2030-01-01T20:00:00Z", "total_seats": 50}
            async with session.post(f"/movies/{movie['id']}/shows/", json=when, headers=admin) as r:
                show = await r.json()
            signup = {"username": "hook-user", "email": "h@x.io", "password": "hook-user-password"}
            async with session.post("/signup", json=signup) as r:
                assert r.status == 201
            user = await login("hook-user", "hook-user-password")

            async def book(seat: int) -> int:
                async with session.post(f"/shows/{show['id']}/book/", json={"seat_number": seat}, headers=user) as r:
                    assert r.status == 201, await r.text()
                    return (await r.json())["id"]

            booked = set(await asyncio.gather(*(book(seat) for seat in range(1, 51))))
        server.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.process.wait, 10)
    finally:
        server.close()
    restarted = ServerProcess(database_url, **env)
    try:
        await asyncio.to_thread(restarted.wait_ready)
        await receiver.start(port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            arrived = {e["data"]["booking"]["id"] for e in receiver.events() if e["type"] == "booking.created"}
            if arrived >= booked:
                break
            await asyncio.sleep(0.1)
        assert arrived >= booked, f"{len(booked - arrived)} of 50 promised events never arrived"
        ids = [h["Cinema-Event-Id"] for h, _ in receiver.received]
        assert all(ids) and len(set(ids)) >= 50
    finally:
        restarted.close()
        await receiver.stop()


async def test_one_process_at_a_time_holds_a_hooks_lease(database_url: str) -> None:
    """Cluster mode: each hook (so each event) is delivered by the one node holding its lease; a dead node's
    lease runs out and another node takes it; a clean stop hands it over at once."""
    database = open_engine(database_url)
    try:
        store = WebhookStore(database)
        hook = await store.create("http://127.0.0.1:9/hook", ["booking.created"], "", "whsec_test")
        assert [h.id for h in await store.claim("node-a", 0.5)] == [hook.id]
        assert await store.claim("node-b", 0.5) == [], "held by node-a"
        assert [h.id for h in await store.claim("node-a", 0.5)] == [hook.id], "renewed by its holder"
        await asyncio.sleep(0.7)  # node-a fell silent
        assert [h.id for h in await store.claim("node-b", 5)] == [hook.id]
        assert await store.claim("node-a", 5) == []
        await store.release("node-b")
        assert [h.id for h in await store.claim("node-a", 5)] == [hook.id]
    finally:
        await database.dispose()


async def test_pruning_keeps_what_is_still_owed_and_drops_the_rest(database_url: str) -> None:
    """Delivered deliveries, attempts and events every hook has read past go after the retention; a pending
    delivery keeps its event."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select, update

    from storage.models import OutboxEvent, WebhookAttempt, WebhookDelivery
    from storage.outbox import emit
    from storage.webhooks import Result

    database = open_engine(database_url)
    try:
        store = WebhookStore(database)
        hook = await store.create("http://127.0.0.1:9/hook", ["show.created"], "", "whsec_test")
        async with database.begin() as conn:
            for _ in range(3):
                await emit(conn, "show.created", {}, None)
        await store.fan_out(hook, 100, time.time())
        [chain] = await store.due(hook.id, time.time(), 4, 10, set())
        now = datetime.now(UTC)
        delivered = [
            Result(d.delivery_id, hook.id, d.event.id, 1, 200, None, 1.0, "delivered", 0, now) for d in chain[:2]
        ]
        await store.record(delivered)
        old = now - timedelta(days=30)
        async with database.begin() as conn:
            await conn.execute(update(OutboxEvent.__table__).values(created_at=old))
            await conn.execute(
                update(WebhookDelivery.__table__).values(finished_at=old).where(WebhookDelivery.state == "delivered")
            )
            await conn.execute(update(WebhookAttempt.__table__).values(at=old))
        deliveries, attempts, events = await store.prune(now - timedelta(days=7))
        assert (deliveries, attempts, events) == (2, 2, 2)
        async with database.connect() as conn:
            left = (await conn.execute(select(OutboxEvent.id))).scalars().all()
            pending = (await conn.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one()
        assert left == [chain[2].event.id] and pending == 1, "the event still owed stays"
    finally:
        await database.dispose()
