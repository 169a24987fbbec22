"""GET /shows/{id}/seats/{n}/history/: one seat's changes, read back from the journal, in order."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp

from tests.conftest import Api
from web.app import create_app
from web.settings import Settings


async def test_held_expired_booked_cancelled_booked_again(aiohttp_client: Any, settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, hold_seconds=0.5))
    api = Api(await aiohttp_client(app, connector=aiohttp.TCPConnector(limit=20)))
    show = await api.show(total_seats=5)
    ann, bob = await api.user(), await api.user()
    held = await api.client.post(f"/shows/{show['id']}/hold/", json={"seat_numbers": [3]}, headers=ann["headers"])
    assert held.status == 201
    hold_id = (await held.json())["hold_id"]
    for _ in range(50):  # the show's own timer expires the hold
        await asyncio.sleep(0.1)
        seats = await (await api.client.get(f"/shows/{show['id']}/seats/")).json()
        if 3 not in seats.get("held", []):
            break
    first = await (await api.book(show["id"], 3, ann["headers"])).json()
    cancelled = await api.client.post(f"/bookings/{first['id']}/cancel/", headers=ann["headers"])
    assert cancelled.status == 200
    again = await api.book(show["id"], 3, bob["headers"])
    assert again.status == 201
    second = await again.json()
    admin = await api.admin()
    path = f"/shows/{show['id']}/seats/3/history/"
    response = await api.client.get(path, headers=admin["headers"])
    assert response.status == 200, await response.text()
    changes = (await response.json())["changes"]
    assert [c["kind"] for c in changes] == ["held", "expired", "booked", "cancelled", "booked"]
    assert [c["user"] for c in changes] == [ann["id"], ann["id"], ann["id"], ann["id"], bob["id"]]
    assert [c["hold"] for c in changes[:2]] == [hold_id, hold_id]
    assert [c["booking"] for c in changes[2:]] == [first["id"], first["id"], second["id"]]
    assert [c["order"] for c in changes[2:]] == [first["order"], first["order"], second["order"]]
    assert changes[-1]["username"] == bob["username"] and all(c["channel"] == "online" for c in changes)
    times = [c["at"] for c in changes]
    assert times == sorted(times) and [c["seq"] for c in changes] == sorted(c["seq"] for c in changes)
    # another seat has no history; strangers and bad seats are refused
    assert (await (await api.client.get(f"/shows/{show['id']}/seats/4/history/", headers=admin["headers"])).json())[
        "changes"
    ] == []
    assert (await api.client.get(path, headers=ann["headers"])).status == 403
    assert (await api.client.get(path)).status == 401
    assert (await api.client.get(f"/shows/{show['id']}/seats/6/history/", headers=admin["headers"])).status == 400
    assert (await api.client.get("/shows/999/seats/1/history/", headers=admin["headers"])).status == 404
