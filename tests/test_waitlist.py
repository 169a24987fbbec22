"""The waiting list through real HTTP on both backends: a family waits for four seats together, scattered seats
are not offered to it, a block is; offers that expire or are declined pass to the next party; entries and offers
survive kill -9 of a real `cinema serve`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import bcrypt
import pytest

from scripts.testing.server_process import ServerProcess
from storage.database import open_engine
from storage.repository import Repository
from tests.conftest import JWT_SECRET, Api
from web.app import create_app
from web.settings import Settings


async def rows_show(api: Api, rows: list[tuple[str, int]]) -> int:
    admin = await api.admin()
    movie = await (
        await api.client.post("/movies/", json={"title": "Premiere", "duration_minutes": 100}, headers=admin["headers"])
    ).json()
    response = await api.client.post(
        f"/movies/{movie['id']}/shows/",
        json={
            "screen_name": "Main",
            "date_time": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "rows": [{"label": label, "seats": seats} for label, seats in rows],
        },
        headers=admin["headers"],
    )
    assert response.status == 201, await response.text()
    return (await response.json())["id"]


async def call(api: Api, method: str, path: str, user: dict[str, Any], body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(method, path, json=body, headers=user["headers"])
    return response.status, await response.json()


async def book_order(api: Api, show_id: int, seats: list[int], user: dict[str, Any]) -> int:
    status, body = await call(api, "POST", f"/shows/{show_id}/book/", user, {"seat_numbers": seats})
    assert status == 201, body
    return body["order"]


async def my_waitlist(api: Api, user: dict[str, Any]) -> list[dict[str, Any]]:
    status, body = await call(api, "GET", "/my-waitlist/", user)
    assert status == 200, body
    return body


async def offered(api: Api, user: dict[str, Any], within: float = 5.0) -> dict[str, Any]:
    """The user's one entry once it has an offer (offers are made by the show, not by this user's request)."""
    deadline = time.monotonic() + within
    while True:
        entries = await my_waitlist(api, user)
        if entries and entries[0]["offer"] is not None:
            return entries[0]
        assert time.monotonic() < deadline, entries
        await asyncio.sleep(0.05)


async def test_a_family_of_four_waits_for_four_seats_together(api: Api) -> None:
    show = await rows_show(api, [("A", 4), ("B", 4), ("C", 4)])
    crowd, family, late = await api.user(), await api.user(), await api.user()
    await book_order(api, show, [1, 2, 3, 4], crowd)
    row_b = await book_order(api, show, [5, 6, 7, 8], crowd)
    status, body = await call(api, "POST", f"/shows/{show}/waitlist/", family, {"party_size": 4})
    assert (status, body["code"]) == (409, "seats_available"), "a show with free seats takes no entries"
    await book_order(api, show, [9, 10, 11, 12], crowd)

    status, joined = await call(api, "POST", f"/shows/{show}/waitlist/", family, {"party_size": 4})
    assert status == 201, joined
    assert joined["position"] == 1 and len(joined["entry_id"]) == 32 and joined["together"] is True
    status, again = await call(api, "POST", f"/shows/{show}/waitlist/", family, {"party_size": 2})
    assert (status, again["code"]) == (409, "already_waiting")
    status, behind = await call(api, "POST", f"/shows/{show}/waitlist/", late, {"party_size": 3})
    assert (status, behind["position"]) == (201, 2)

    async with api.client.ws_connect(f"/shows/{show}/events") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        # Two scattered single seats come back (A1 and C4): no use to a party of four or of three.
        mine = {b["seat_number"]: b["id"] for b in (await call(api, "GET", "/my-bookings/", crowd))[1]}
        for seat in (1, 12):
            status, body = await call(api, "POST", f"/bookings/{mine[seat]}/cancel/", crowd)
            assert status == 200, body
        assert [await ws.receive_json(timeout=5) for _ in range(2)] == [
            {"type": "cancelled", "seq": 13, "seat": 1},
            {"type": "cancelled", "seq": 14, "seat": 12},
        ]
        entries = await my_waitlist(api, family)
        assert [(e["entry_id"], e["status"], e["position"], e["offer"]) for e in entries] == [
            (joined["entry_id"], "waiting", 1, None)
        ]
        seats = await (await api.client.get(f"/shows/{show}/seats/")).json()
        assert seats["held"] == [] and 1 not in seats["booked"] and 12 not in seats["booked"]

        # Row B comes back in one cancel: offered to the family at once, as a hold of theirs.
        status, body = await call(api, "POST", f"/orders/{row_b}/cancel/", crowd)
        assert status == 200, body
        events = [await ws.receive_json(timeout=5) for _ in range(9)]
    assert [e["type"] for e in events] == ["cancelled"] * 4 + ["held"] * 4 + ["waitlist_offered"]
    assert sorted(e["seat"] for e in events[4:8]) == [5, 6, 7, 8]
    offer_event = events[8]
    assert offer_event["entry_id"] == joined["entry_id"] and offer_event["seats"] == [5, 6, 7, 8]
    assert offer_event["seq"] == events[7]["seq"] + 1

    entry = await offered(api, family)
    offer = entry["offer"]
    assert entry["status"] == "offered" and offer["seats"] == [5, 6, 7, 8]
    assert offer["expires_at"] == offer_event["expires_at"]
    left = datetime.fromisoformat(offer["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=590) < left <= timedelta(seconds=600)  # CINEMA_WAITLIST_OFFER_SECONDS' default
    assert (await my_waitlist(api, late))[0]["offer"] is None, "the party of three waits on"
    status, body = await call(api, "POST", f"/shows/{show}/book/", crowd, {"seat_number": 5})
    assert (status, body["code"]) == (409, "seats_unavailable"), "offered seats are held, not on sale"

    status, stranger = await call(api, "POST", f"/holds/{offer['hold_id']}/confirm/", late)
    assert (status, stranger["code"]) == (404, "unknown_hold")
    status, booked = await call(api, "POST", f"/holds/{offer['hold_id']}/confirm/", family)
    assert status == 201, booked
    assert sorted(b["seat_number"] for b in booked["bookings"]) == [5, 6, 7, 8]
    assert {b["user"] for b in booked["bookings"]} == {family["id"]}
    assert await my_waitlist(api, family) == []
    status, rows = await call(api, "GET", "/my-bookings/", family)
    assert sorted(b["seat_number"] for b in rows if b["status"] == "booked") == [5, 6, 7, 8]
    assert (await my_waitlist(api, late))[0]["position"] == 1, "the family left the list by booking"
    seats = await (await api.client.get(f"/shows/{show}/seats/")).json()
    assert seats["held"] == [] and sorted(set(range(1, 13)) - set(seats["booked"])) == [1, 12]


async def test_a_smaller_party_behind_takes_seats_the_first_cannot_use(api: Api) -> None:
    show = await rows_show(api, [("A", 6)])
    crowd, four, one = await api.user(), await api.user(), await api.user()
    order = await book_order(api, show, [1, 2, 3, 4, 5, 6], crowd)
    await call(api, "POST", f"/shows/{show}/waitlist/", four, {"party_size": 4})
    await call(api, "POST", f"/shows/{show}/waitlist/", one, {"party_size": 1})
    seat_6 = next(b["id"] for b in (await call(api, "GET", "/my-bookings/", crowd))[1] if b["seat_number"] == 6)
    assert (await call(api, "POST", f"/bookings/{seat_6}/cancel/", crowd))[0] == 200
    assert (await offered(api, one))["offer"]["seats"] == [6]
    assert (await my_waitlist(api, four))[0]["offer"] is None
    assert order


async def test_expired_and_declined_offers_pass_to_the_next_party(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(replace(settings, waitlist_offer_seconds=1.0)))
    api = Api(client)
    show = await rows_show(api, [("A", 4)])
    crowd = await api.user()
    parties = [await api.user() for _ in range(3)]
    order = await book_order(api, show, [1, 2, 3, 4], crowd)
    entries = []
    for party in parties:
        status, body = await call(api, "POST", f"/shows/{show}/waitlist/", party, {"party_size": 4})
        assert status == 201, body
        entries.append(body["entry_id"])
    assert (await call(api, "POST", f"/orders/{order}/cancel/", crowd))[0] == 200

    first = await offered(api, parties[0])
    assert first["offer"]["seats"] == [1, 2, 3, 4]
    assert (await my_waitlist(api, parties[1]))[0]["offer"] is None
    second = await offered(api, parties[1], within=5)  # the first let its offer expire
    assert second["offer"]["seats"] == [1, 2, 3, 4] and second["offer"]["hold_id"] != first["offer"]["hold_id"]
    assert await my_waitlist(api, parties[0]) == [], "an expired offer ends its entry"
    status, late = await call(api, "POST", f"/holds/{first['offer']['hold_id']}/confirm/", parties[0])
    assert status == 404 and late["code"] == "unknown_hold"

    status, body = await call(api, "DELETE", f"/waitlist/{entries[1]}/", parties[1])  # the second declines
    assert (status, body) == (200, {"detail": "Left the waiting list.", "entry_id": entries[1]})
    third = await offered(api, parties[2])
    assert third["offer"]["seats"] == [1, 2, 3, 4] and third["position"] == 1
    status, booked = await call(api, "POST", f"/holds/{third['offer']['hold_id']}/confirm/", parties[2])
    assert status == 201 and len(booked["bookings"]) == 4


async def test_waitlist_refusals(api: Api) -> None:
    show = await rows_show(api, [("A", 2)])
    user, other = await api.user(), await api.user()
    await book_order(api, show, [1, 2], other)
    path = f"/shows/{show}/waitlist/"
    assert (await api.client.post(path, json={"party_size": 1})).status == 401
    for body in ({}, {"party_size": 0}, {"party_size": "2"}, {"party_size": 11}, {"party_size": 2, "together": "x"}):
        status, answer = await call(api, "POST", path, user, body)
        assert (status, answer["code"]) == (400, "invalid_input"), (body, answer)
        assert "party_size" in answer["errors"] or "together" in answer["errors"]
    status, answer = await call(api, "POST", "/shows/999999/waitlist/", user, {"party_size": 1})
    assert (status, answer["code"]) == (404, "unknown_show")
    status, joined = await call(api, "POST", path, user, {"party_size": 2, "together": False})
    assert status == 201 and joined["together"] is False
    unknown = "0" * 32
    for who, entry in ((user, unknown), (other, joined["entry_id"])):  # someone else's entry is as good as none
        status, answer = await call(api, "DELETE", f"/waitlist/{entry}/", who)
        assert (status, answer["code"]) == (404, "unknown_waitlist_entry")
    assert (await call(api, "DELETE", f"/waitlist/{joined['entry_id']}/", user))[0] == 200
    status, answer = await call(api, "DELETE", f"/waitlist/{joined['entry_id']}/", user)
    assert (status, answer["code"]) == (404, "unknown_waitlist_entry")
    assert await my_waitlist(api, user) == []
    plain = (await api.show(total_seats=2))["id"]
    await api.book(plain, 1, other["headers"])
    await api.book(plain, 2, other["headers"])
    status, answer = await call(api, "POST", f"/shows/{plain}/waitlist/", user, {"party_size": 2})
    assert (status, answer["code"]) == (409, "no_adjacent_seats"), "a show without rows has no adjacent seats"


async def test_the_party_size_is_capped_by_the_per_customer_limit(aiohttp_client: Any, settings: Settings) -> None:
    api = Api(await aiohttp_client(create_app(replace(settings, max_seats_per_user=4))))
    show = await rows_show(api, [("A", 4)])
    crowd, user = await api.user(), await api.user()
    await book_order(api, show, [1, 2, 3, 4], crowd)
    status, answer = await call(api, "POST", f"/shows/{show}/waitlist/", user, {"party_size": 5})
    assert (status, answer["code"]) == (409, "seat_limit")
    assert (await call(api, "POST", f"/shows/{show}/waitlist/", user, {"party_size": 4}))[0] == 201


# --- kill -9 and restart ---------------------------------------------------------------------------------------
async def http(
    session: aiohttp.ClientSession, method: str, url: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def login(session: aiohttp.ClientSession, base: str, name: str, password: str = "correct-horse-7") -> str:
    status, _ = await http(
        session, "POST", f"{base}/signup", body={"username": name, "email": f"{name}@x.io", "password": password}
    )
    assert status in (201, 409)
    status, tokens = await http(session, "POST", f"{base}/login", body={"username": name, "password": password})
    assert status == 200, tokens
    return tokens["access"]


async def entries_of(session: aiohttp.ClientSession, base: str, token: str) -> list[dict[str, Any]]:
    status, body = await http(session, "GET", f"{base}/my-waitlist/", token)
    assert status == 200, body
    return body


@pytest.mark.parametrize("offer_seconds", [600, 2])
async def test_entries_and_offers_survive_kill_9(database_url: str, offer_seconds: int) -> None:
    """600: the live offer is there after the restart and can be confirmed. 2: it expired while the service was
    down, and the restarted service passes its seats to the next party by itself (nobody touches the show)."""
    env = {"CINEMA_JWT_SECRET": JWT_SECRET, "CINEMA_WAITLIST_OFFER_SECONDS": str(offer_seconds)}
    database = open_engine(database_url)
    try:
        hashed = bcrypt.hashpw(b"boss-password-1", bcrypt.gensalt(4)).decode()
        await Repository(database).create_user("boss", "boss@x.io", hashed, is_admin=True)
    finally:
        await database.dispose()
    server = ServerProcess(database_url, **env)
    try:
        server.wait_ready()
        base = server.url
        async with aiohttp.ClientSession() as session:
            status, tokens = await http(
                session, "POST", f"{base}/login", body={"username": "boss", "password": "boss-password-1"}
            )
            admin = tokens["access"]
            _, movie = await http(session, "POST", f"{base}/movies/", admin, {"title": "M", "duration_minutes": 90})
            when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            status, show = await http(
                session,
                "POST",
                f"{base}/movies/{movie['id']}/shows/",
                admin,
                {
                    "screen_name": "Main",
                    "date_time": when,
                    "rows": [{"label": "A", "seats": 3}, {"label": "B", "seats": 3}],
                },
            )
            assert status == 201, show
            show_id = show["id"]
            crowd, first, second = [await login(session, base, n) for n in ("crowd", "first", "second")]
            _, row_a = await http(session, "POST", f"{base}/shows/{show_id}/book/", crowd, {"seat_numbers": [1, 2, 3]})
            await http(session, "POST", f"{base}/shows/{show_id}/book/", crowd, {"seat_numbers": [4, 5, 6]})
            joined = {}
            for token in (first, second):
                status, body = await http(
                    session, "POST", f"{base}/shows/{show_id}/waitlist/", token, {"party_size": 3}
                )
                assert status == 201, body
                joined[token] = body
            status, _ = await http(session, "POST", f"{base}/orders/{row_a['order']}/cancel/", crowd)
            assert status == 200
            deadline = time.monotonic() + 5
            while (offer := (await entries_of(session, base, first))[0]["offer"]) is None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert offer["seats"] == [1, 2, 3]
        server.kill()  # SIGKILL: no shutdown, no last commit
        if offer_seconds < 10:
            await asyncio.sleep(max(0.0, datetime.fromisoformat(offer["expires_at"]).timestamp() - time.time()) + 0.2)
        server.close()
        server = ServerProcess(database_url, **env)
        server.wait_ready()
        base = server.url
        async with aiohttp.ClientSession() as session:
            mine = await entries_of(session, base, second)
            assert [e["entry_id"] for e in mine] == [joined[second]["entry_id"]], "the waiting entry survived"
            if offer_seconds > 10:
                assert (mine[0]["status"], mine[0]["position"], mine[0]["offer"]) == ("waiting", 2, None)
                kept = (await entries_of(session, base, first))[0]
                assert (
                    kept["entry_id"] == joined[first]["entry_id"] and kept["offer"] == offer and kept["position"] == 1
                )
                status, booked = await http(session, "POST", f"{base}/holds/{offer['hold_id']}/confirm/", first)
                assert status == 201, booked
                assert sorted(b["seat_number"] for b in booked["bookings"]) == [1, 2, 3]
                assert await entries_of(session, base, first) == []
                # the rebuilt list still offers what comes back: row B to the second party
                _, bookings = await http(session, "GET", f"{base}/my-orders/", crowd)
                row_b = next(o["id"] for o in bookings if o["status"] == "booked")
                assert (await http(session, "POST", f"{base}/orders/{row_b}/cancel/", crowd))[0] == 200
            deadline = time.monotonic() + 5
            while (passed := (await entries_of(session, base, second))[0]["offer"]) is None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert len(passed["seats"]) == 3
            if offer_seconds < 10:
                assert passed["seats"] == [1, 2, 3] and await entries_of(session, base, first) == []
    finally:
        log = server.output()
        server.close()
    assert "Traceback" not in log, log
