"""Live seat events over real WebSockets and SSE: order, catch-up, and 500 subscribers through a rush."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.conftest import Api
from tests.test_concurrency import stored_bookings
from tests.test_durability import install_fault, remove_fault
from web.app import create_app
from web.settings import Settings


async def test_seat_map(api: Api) -> None:
    show = await api.show(total_seats=6)
    user = await api.user()
    for seat in (2, 5):
        await api.book(show["id"], seat, user["headers"])
    body = await (await api.client.get(f"/shows/{show['id']}/seats/")).json()
    assert body == {
        "type": "snapshot",
        "show_id": show["id"],
        "seq": 2,
        "total_seats": 6,
        "booked": [2, 5],
        "held": [],
        "blocked": [],
        "rows": None,
        "max_seats_per_user": 0,  # the tests lift the per-customer cap
    }
    assert (await api.client.get("/shows/999/seats/")).status == 404


async def test_websocket_snapshot_then_changes(api: Api) -> None:
    show = await api.show(total_seats=6)
    user = await api.user()
    await api.book(show["id"], 1, user["headers"])
    async with api.client.ws_connect(f"/shows/{show['id']}/events") as ws:
        assert await ws.receive_json() == {
            "type": "snapshot",
            "show_id": show["id"],
            "seq": 1,
            "total_seats": 6,
            "booked": [1],
            "held": [],
            "blocked": [],
        }
        booking = await (await api.book(show["id"], 4, user["headers"])).json()
        assert await ws.receive_json(timeout=5) == {"type": "booked", "seq": 2, "seat": 4}
        await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=user["headers"])
        assert await ws.receive_json(timeout=5) == {"type": "cancelled", "seq": 3, "seat": 4}
    async with api.client.ws_connect(f"/shows/{show['id']}/events?since=1") as ws:  # catch up
        assert await ws.receive_json(timeout=5) == {"type": "booked", "seq": 2, "seat": 4}
        assert await ws.receive_json(timeout=5) == {"type": "cancelled", "seq": 3, "seat": 4}
    assert (await api.client.get(f"/shows/{show['id']}/events?since=x")).status == 400
    assert (await api.client.get("/shows/999/events")).status == 404


async def test_server_sent_events(api: Api) -> None:
    show = await api.show(total_seats=6)
    user = await api.user()
    await api.book(show["id"], 3, user["headers"])
    response = await api.client.get(f"/shows/{show['id']}/events", headers={"Last-Event-ID": "0"})
    assert response.headers["Content-Type"] == "text/event-stream"

    async def frame() -> list[bytes]:
        lines = []
        while (line := await asyncio.wait_for(response.content.readline(), 5)) != b"\n":
            lines.append(line.strip())
        return lines

    assert await frame() == [b"id: 1", b"event: booked", b'data: {"type":"booked","seq":1,"seat":3}']
    await api.book(show["id"], 6, user["headers"])
    assert await frame() == [b"id: 2", b"event: booked", b'data: {"type":"booked","seq":2,"seat":6}']
    response.close()


async def test_events_only_after_commit(api: Api, database_url: str) -> None:
    show = await api.show(total_seats=6)
    user = await api.user()
    async with api.client.ws_connect(f"/shows/{show['id']}/events") as ws:
        await ws.receive_json()
        await install_fault(database_url, "insert")
        assert (await api.book(show["id"], 2, user["headers"])).status == 503
        await remove_fault(database_url)
        assert (await api.book(show["id"], 5, user["headers"])).status == 201
        assert await ws.receive_json(timeout=5) == {"type": "booked", "seq": 1, "seat": 5}  # never seat 2


async def test_event_numbers_survive_a_restart(api: Api, settings: Settings, aiohttp_client: Any) -> None:
    show = await api.show(total_seats=6)
    user = await api.user()
    await api.book(show["id"], 1, user["headers"])
    await api.client.close()
    again: TestClient = await aiohttp_client(create_app(settings))
    body = await (await again.get(f"/shows/{show['id']}/seats/")).json()
    assert body["seq"] == 1 and body["booked"] == [1]


async def test_500_subscribers_follow_a_rush(aiohttp_client: Any, settings: Settings, database_url: str) -> None:
    client: TestClient = await aiohttp_client(create_app(settings), connector=aiohttp.TCPConnector(limit=0))
    api = Api(client)
    total = 80
    show = await api.show(total_seats=total)
    users = await asyncio.gather(*(api.user() for _ in range(10)))
    views: list[dict[str, Any]] = [{"seq": -1, "booked": set()} for _ in range(500)]
    ready = asyncio.Event()
    connected = 0

    async def subscriber(view: dict[str, Any]) -> None:
        nonlocal connected
        async with client.ws_connect(f"/shows/{show['id']}/events") as ws:
            snapshot = await ws.receive_json()
            view["seq"], view["booked"] = snapshot["seq"], set(snapshot["booked"])
            connected += 1
            if connected == len(views):
                ready.set()
            async for message in ws:
                event = message.json()
                assert event["seq"] == view["seq"] + 1, "events arrive in order, none missing"
                view["seq"] = event["seq"]
                (view["booked"].add if event["type"] == "booked" else view["booked"].discard)(event["seat"])

    tasks = [asyncio.create_task(subscriber(view)) for view in views]
    await asyncio.wait_for(ready.wait(), 60)
    rng = random.Random(4)
    confirmed: dict[int, int] = {}

    async def book(n: int) -> None:
        response = await api.book(show["id"], rng.randint(1, total), users[n % 10]["headers"])
        if response.status == 201:
            confirmed[(await response.json())["id"]] = n % 10

    async def cancel(booking_id: int) -> None:
        await client.post(f"/bookings/{booking_id}/cancel/", headers=users[confirmed[booking_id]]["headers"])

    await asyncio.gather(*(book(n) for n in range(300)))
    await asyncio.gather(*(cancel(b) for b in list(confirmed)[::3]), *(book(n) for n in range(300, 400)))
    final = await (await client.get(f"/shows/{show['id']}/seats/")).json()
    for _ in range(200):
        if all(view["seq"] == final["seq"] for view in views):
            break
        await asyncio.sleep(0.05)
    on_disk = {seat for _, seat, _, status in await stored_bookings(database_url, show["id"]) if status == "booked"}
    assert set(final["booked"]) == on_disk
    for view in views:
        assert view["seq"] == final["seq"] and view["booked"] == on_disk
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
