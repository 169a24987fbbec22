"""Box office, through real HTTP on both backends: screens with layouts, schedules, prices, orders, tickets,
door check-in and the accessibility rules."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from storage.database import open_engine
from tests.conftest import Api
from web.app import create_app
from web.context import HASHER, REPOSITORY
from web.http.qr_images import QR_IMAGES
from web.settings import Settings

W, C = "wheelchair", "companion"


def seat(label: str, category: str = "standard", kind: str = "standard") -> dict[str, str]:
    return {"label": label, "category": category, "kind": kind}


# Row A: A1 A2 | aisle | A3 A4 ; row B: W C B3 | aisle | B4 (premium) : seats 1..4 and 5..8
LAYOUT = [
    {"label": "A", "positions": [seat("A1"), seat("A2"), None, seat("A3"), seat("A4")]},
    {"label": "B", "positions": [seat("B1", kind=W), seat("B2", kind=C), seat("B3"), None, seat("B4", "premium")]},
]
PRICES = {"prices": {"standard": 1200, "premium": 1800}, "currency": "EUR"}


def future(minutes: float = 24 * 60) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def post(api: Api, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await api.client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def get(api: Api, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await api.client.get(path, headers=headers)
    return response.status, await response.json()


async def staff(api: Api) -> dict[str, Any]:
    username = f"door-{uuid.uuid4().hex[:8]}"
    password_hash = await api.app[HASHER].hash("doorpassword")
    await api.app[REPOSITORY].create_user(username, f"{username}@example.com", password_hash, is_staff=True)
    tokens = await (await api.client.post("/login", json={"username": username, "password": "doorpassword"})).json()
    return {"headers": {"Authorization": f"Bearer {tokens['access']}"}}


async def screen_and_movie(api: Api, layout: list[dict[str, Any]] = LAYOUT, minutes: int = 100) -> dict[str, Any]:
    admin = await api.admin()
    status, screen = await post(
        api, "/screens/", {"name": f"Hall {uuid.uuid4().hex[:6]}", "rows": layout}, admin["headers"]
    )
    assert status == 201, screen
    status, movie = await post(api, "/movies/", {"title": "Film", "duration_minutes": minutes}, admin["headers"])
    assert status == 201
    return {"admin": admin, "screen": screen, "movie": movie}


async def screen_show(api: Api, when: str | None = None, **extra: Any) -> dict[str, Any]:
    setup = await screen_and_movie(api)
    body = {"screen_id": setup["screen"]["id"], "date_time": when or future(), **PRICES, **extra}
    status, show = await post(api, f"/movies/{setup['movie']['id']}/shows/", body, setup["admin"]["headers"])
    assert status == 201, show
    return {**setup, "show": show}


async def test_screen_layout_drawn_in_the_seat_map(api: Api) -> None:
    setup = await screen_show(api)
    screen, show = setup["screen"], setup["show"]
    assert screen["total_seats"] == 8 and show["total_seats"] == 8 and show["screen_name"] == screen["name"]
    assert show["screen_id"] == screen["id"] and show["prices"]["premium"] == {"amount": 1800, "currency": "EUR"}
    status, view = await get(api, f"/shows/{show['id']}/seats/")
    assert status == 200
    row_a, row_b = view["rows"]
    assert {k: row_a[k] for k in ("label", "first_seat", "seats")} == {"label": "A", "first_seat": 1, "seats": 4}
    assert row_a["positions"][2] is None  # the aisle
    assert row_a["positions"][3] == {"seat": 3, "label": "A3", "category": "standard", "kind": "standard"}
    assert row_b["first_seat"] == 5 and row_b["positions"][0]["kind"] == "wheelchair"
    assert row_b["positions"][4] == {"seat": 8, "label": "B4", "category": "premium", "kind": "standard"}
    assert view["prices"] == {
        "premium": {"amount": 1800, "currency": "EUR"},
        "standard": {"amount": 1200, "currency": "EUR"},
    }
    status, listed = await get(api, "/screens/")
    assert status == 200 and screen in listed["results"]
    user = await api.user()
    status, booking = await post(api, f"/shows/{show['id']}/book/", {"seat_number": 8}, user["headers"])
    assert status == 201 and booking["seat_label"] == "B4" and booking["price"] == {"amount": 1800, "currency": "EUR"}


async def test_screen_layouts_are_checked(api: Api) -> None:
    admin, user = await api.admin(), await api.user()
    bad_layouts = [
        [{"label": "A", "positions": [seat("A1"), seat("A2", kind=C)]}],  # companion without a wheelchair space
        [{"label": "A", "positions": [seat("A1"), seat("A1")]}],  # duplicate seat labels
        [{"label": "A", "positions": [None, None]}],  # no seats
        [{"label": "A", "positions": [seat("A1", kind="sofa")]}],
        [{"label": "A", "positions": [seat("A1")]}, {"label": "A", "positions": [seat("A2")]}],
    ]
    for rows in bad_layouts:
        status, body = await post(api, "/screens/", {"name": "Bad", "rows": rows}, admin["headers"])
        assert status == 400, (rows, body)
    good = {"name": "Twice", "rows": LAYOUT}
    assert (await post(api, "/screens/", good, user["headers"]))[0] == 403
    assert (await post(api, "/screens/", good))[0] == 401
    assert (await post(api, "/screens/", good, admin["headers"]))[0] == 201
    status, body = await post(api, "/screens/", good, admin["headers"])
    assert status == 409 and body["code"] == "screen_name_taken"


async def test_schedule_overlaps_past_and_unknown_screens(api: Api) -> None:
    setup = await screen_and_movie(api, minutes=100)
    path, headers = f"/movies/{setup['movie']['id']}/shows/", setup["admin"]["headers"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    def body(at: datetime, **extra: Any) -> dict[str, Any]:
        return {"screen_id": setup["screen"]["id"], "date_time": at.isoformat(), **extra}

    status, first = await post(api, path, body(start))
    assert status == 401
    status, first = await post(api, path, body(start), headers)
    assert status == 201
    # 100 minutes of film and 15 of cleaning (the default): anything starting before start + 115 min clashes
    for at in (start, start + timedelta(minutes=114), start - timedelta(minutes=114)):
        status, clash = await post(api, path, body(at), headers)
        assert status == 409 and clash["code"] == "schedule_clash", at
        assert clash["clash"]["show_id"] == first["id"] and str(first["id"]) in clash["detail"]
    for at in (start + timedelta(minutes=115), start - timedelta(minutes=115)):
        assert (await post(api, path, body(at), headers))[0] == 201, at
    status, past = await post(api, path, body(datetime.now(UTC) - timedelta(minutes=1)), headers)
    assert status == 400 and "date_time" in past["errors"]
    seed_way = {"screen_name": "Old", "date_time": "2001-09-01T20:00:00Z", "total_seats": 5}
    assert (await post(api, path, seed_way, headers))[0] == 400
    status, missing = await post(api, path, {**body(start), "screen_id": 999_999}, headers)
    assert status == 404 and missing["code"] == "unknown_screen"
    assert (await post(api, path, {**body(start + timedelta(days=3)), "total_seats": 5}, headers))[0] == 400
    status, unpriced = await post(
        api, path, body(start + timedelta(days=3), prices={"standard": 1000}, currency="EUR"), headers
    )
    assert status == 400 and unpriced["code"] == "unpriced" and "premium" in unpriced["detail"]
    status, _ = await post(api, path, body(start + timedelta(days=3), prices={"standard": 1000, "premium": 1}), headers)
    assert status == 400  # prices need a currency


async def test_two_admins_scheduling_one_slot_at_once(api: Api) -> None:
    setup = await screen_and_movie(api, minutes=90)
    other_admin = await api.admin()
    path = f"/movies/{setup['movie']['id']}/shows/"
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    for slot in range(8):
        at = (base + timedelta(hours=3 * slot)).isoformat()
        body = {"screen_id": setup["screen"]["id"], "date_time": at}
        # a few minutes apart: different requests, the same slot
        second = {**body, "date_time": (base + timedelta(hours=3 * slot, minutes=10)).isoformat()}
        results = await asyncio.gather(
            post(api, path, body, setup["admin"]["headers"]),
            post(api, path, second, other_admin["headers"]),
        )
        assert sorted(status for status, _ in results) == [201, 409], results
    status, movie = await get(api, f"/movies/{setup['movie']['id']}/shows/")
    assert status == 200 and len(movie["shows"]) == 8


async def test_started_show_and_cancel_cutoff(aiohttp_client: Any, settings: Settings) -> None:
    api = Api(await aiohttp_client(create_app(replace(settings, cancel_cutoff_minutes=30))))
    user = await api.user()
    soon = await screen_show(api, future(minutes=0.1))  # starts in six seconds
    show_id = soon["show"]["id"]
    status, booking = await post(api, f"/shows/{show_id}/book/", {"seat_number": 1}, user["headers"])
    assert status == 201
    status, hold = await post(api, f"/shows/{show_id}/hold/", {"seat_numbers": [3]}, user["headers"])
    assert status == 201
    status, refused = await post(api, f"/bookings/{booking['id']}/cancel/", None, user["headers"])
    assert status == 409 and refused["code"] == "cancel_closed" and "30 minutes" in refused["detail"]
    await asyncio.sleep(
        max(0.0, (datetime.fromisoformat(soon["show"]["date_time"]) - datetime.now(UTC)).total_seconds()) + 0.1
    )
    for path, body in (
        (f"/shows/{show_id}/book/", {"seat_number": 2}),
        (f"/shows/{show_id}/book/", {"seat_numbers": [2, 4]}),
        (f"/shows/{show_id}/book/", {"count": 1}),
        (f"/shows/{show_id}/hold/", {"seat_numbers": [2]}),
        (f"/holds/{hold['hold_id']}/confirm/", None),
        (f"/shows/{show_id}/block/", {"seat_numbers": [4]}),
    ):
        headers = soon["admin"]["headers"] if "block" in path else user["headers"]
        status, body_ = await post(api, path, body, headers)
        assert status == 409 and body_["code"] == "show_started", (path, body_)
        assert "started" in body_["detail"]
    status, refused = await post(api, f"/orders/{booking['order']}/cancel/", None, user["headers"])
    assert status == 409 and refused["code"] == "cancel_closed"
    later = await screen_show(api, future(minutes=60))
    status, booking = await post(api, f"/shows/{later['show']['id']}/book/", {"seat_number": 1}, user["headers"])
    assert status == 201
    assert (await post(api, f"/bookings/{booking['id']}/cancel/", None, user["headers"]))[0] == 200


async def test_prices_on_bookings_holds_orders_and_listings(api: Api) -> None:
    setup = await screen_show(api)
    show_id, movie_id = setup["show"]["id"], setup["movie"]["id"]
    user = await api.user()
    status, booked = await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [4, 8]}, user["headers"])
    assert status == 201
    assert [b["price"]["amount"] for b in booked["bookings"]] == [1200, 1800]
    assert booked["total"] == {"amount": 3000, "currency": "EUR"} and booked["order"] == booked["bookings"][0]["id"]
    status, hold = await post(api, f"/shows/{show_id}/hold/", {"seat_numbers": [1, 2]}, user["headers"])
    assert status == 201 and hold["price"] == {"amount": 2400, "currency": "EUR"}
    status, confirmed = await post(api, f"/holds/{hold['hold_id']}/confirm/", None, user["headers"])
    assert status == 201 and confirmed["total"] == {"amount": 2400, "currency": "EUR"}
    status, order = await get(api, f"/orders/{booked['order']}/", user["headers"])
    assert status == 200 and order["total"] == {"amount": 3000, "currency": "EUR"}
    status, listing = await get(api, f"/movies/{movie_id}/shows/")
    assert listing["shows"][0]["prices"]["standard"] == {"amount": 1200, "currency": "EUR"}
    assert listing["shows"][0]["available_seats"] == 4
    # the seed's way can be priced too; unpriced seed shows answer exactly as before (no price fields)
    plain = await api.show(total_seats=3)
    status, seed_booking = await post(api, f"/shows/{plain['id']}/book/", {"seat_number": 1}, user["headers"])
    assert "price" not in seed_booking and "seat_label" not in seed_booking
    status, priced = await post(
        api,
        f"/movies/{movie_id}/shows/",
        {"screen_name": "Old", "date_time": future(), "total_seats": 3, "prices": {"standard": 900}, "currency": "GBP"},
        setup["admin"]["headers"],
    )
    assert status == 201
    status, booking = await post(api, f"/shows/{priced['id']}/book/", {"seat_number": 3}, user["headers"])
    assert booking["price"] == {"amount": 900, "currency": "GBP"}


async def test_orders_cancel_all_or_none(api: Api, database_url: str) -> None:
    setup = await screen_show(api)
    show_id = setup["show"]["id"]
    ann, bob = await api.user(), await api.user()
    status, booked = await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [1, 2, 3]}, ann["headers"])
    order_id = booked["order"]
    status, single = await post(api, f"/shows/{show_id}/book/", {"seat_number": 4}, ann["headers"])
    assert single["order"] == single["id"]
    status, order = await get(api, f"/orders/{order_id}/", ann["headers"])
    assert status == 200 and order["status"] == "booked" and [s["seat_number"] for s in order["seats"]] == [1, 2, 3]
    assert [s["seat_label"] for s in order["seats"]] == ["A1", "A2", "A3"]
    assert all(s["ticket"] and s["qr"].endswith("/qr.svg") for s in order["seats"])
    assert order["show"]["movie"]["title"] == "Film"
    assert (await get(api, f"/orders/{order_id}/", bob["headers"]))[0] == 404  # not Bob's
    assert (await get(api, f"/orders/{order_id + 1}/", ann["headers"]))[0] == 404  # a later seat is not an order
    status, mine = await get(api, "/my-orders/", ann["headers"])
    assert [o["id"] for o in mine] == [single["id"], order_id]
    assert (await post(api, f"/orders/{order_id}/cancel/", None, bob["headers"]))[0] == 404
    assert (await post(api, f"/orders/{order_id + 1}/cancel/", None, ann["headers"]))[0] == 404
    # one seat cancelled on its own: the order is partly cancelled, and cancelling it takes the rest
    assert (await post(api, f"/bookings/{order_id + 1}/cancel/", None, ann["headers"]))[0] == 200
    status, order = await get(api, f"/orders/{order_id}/", ann["headers"])
    assert order["status"] == "partly_cancelled" and order["total"]["amount"] == 2400
    status, cancelled = await post(api, f"/orders/{order_id}/cancel/", None, ann["headers"])
    assert status == 200 and cancelled["seat_numbers"] == [1, 3]
    status, again = await post(api, f"/orders/{order_id}/cancel/", None, ann["headers"])
    assert status == 409 and again["code"] == "already_cancelled"
    status, order = await get(api, f"/orders/{order_id}/", ann["headers"])
    assert order["status"] == "cancelled" and all("ticket" not in s for s in order["seats"])
    status, view = await get(api, f"/shows/{show_id}/seats/")
    assert view["booked"] == [4]
    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT id, order_id, status FROM bookings WHERE show_id = :s ORDER BY id"), {"s": show_id}
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [
        (order_id, order_id, "cancelled"),
        (order_id + 1, order_id, "cancelled"),
        (order_id + 2, order_id, "cancelled"),
        (single["id"], single["id"], "booked"),
    ]


async def test_tickets_qr_and_check_in(aiohttp_client: Any, settings: Settings) -> None:
    api = Api(await aiohttp_client(create_app(settings)))  # door opens 60 minutes before the start
    setup = await screen_show(api, future(minutes=45))  # cancelling still open (30 min cutoff), door open
    later = await screen_show(api, future(minutes=600))
    show_id = setup["show"]["id"]
    ann, door = await api.user(), await staff(api)
    status, booked = await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [3, 4]}, ann["headers"])
    first, second = (b["ticket"] for b in booked["bookings"])
    assert first != second and len(first) >= 26
    qr = await api.client.get(f"/tickets/{first}/qr.svg")
    assert qr.status == 200 and qr.content_type == "image/svg+xml" and b"<svg" in await qr.read()
    png = await api.client.get(f"/tickets/{first}/qr.png")
    assert png.status == 200 and (await png.read()).startswith(b"\x89PNG")
    booking_id, tag = first.split("-")
    forged = f"{booking_id}-{'A' * len(tag)}"
    assert (await api.client.get(f"/tickets/{forged}/qr.svg")).status == 404
    # only staff (or admins) scan
    assert (await post(api, "/check-in/", {"code": first, "show_id": show_id}, ann["headers"]))[0] == 403
    assert (await post(api, "/check-in/", {"code": first, "show_id": show_id}))[0] == 401
    status, admitted = await post(api, "/check-in/", {"code": first.lower(), "show_id": show_id}, door["headers"])
    assert status == 200, admitted
    assert admitted["holder"] == {"id": ann["id"], "username": ann["username"]}
    assert admitted["seat_number"] == 3 and admitted["seat_label"] == "A3" and admitted["show"]["id"] == show_id
    # (another scanner: the same one reading it again at once is told ADMITTED again, see tests/test_door_api.py)
    status, again = await post(api, "/check-in/", {"code": first, "show_id": show_id}, (await staff(api))["headers"])
    assert status == 409 and again["code"] == "already_checked_in"
    assert again["first_checked_in_at"] == admitted["checked_in_at"] and admitted["checked_in_at"] in again["detail"]
    status, other_show = await post(
        api, "/check-in/", {"code": second, "show_id": later["show"]["id"]}, door["headers"]
    )
    assert status == 404 and other_show["code"] == "wrong_show" and other_show["show"]["id"] == show_id
    assert (await post(api, "/check-in/", {"code": forged, "show_id": show_id}, door["headers"]))[0] == 404
    assert (await post(api, "/check-in/", {"code": "12-nonsense", "show_id": show_id}, door["headers"]))[0] == 404
    # a scanned ticket cannot be cancelled, and neither can its order (all or none)
    status, used = await post(api, f"/bookings/{booking_id}/cancel/", None, ann["headers"])
    assert status == 409 and used["code"] == "ticket_used"
    status, used = await post(api, f"/orders/{booked['order']}/cancel/", None, ann["headers"])
    assert status == 409 and used["code"] == "ticket_used"
    second_id = int(second.split("-")[0])
    assert (await post(api, f"/bookings/{second_id}/cancel/", None, ann["headers"]))[0] == 200
    status, gone = await post(api, "/check-in/", {"code": second, "show_id": show_id}, door["headers"])
    assert status == 410 and gone["code"] == "ticket_cancelled"
    # the door of a show ten hours away is not open yet
    status, booking = await post(api, f"/shows/{later['show']['id']}/book/", {"seat_number": 1}, ann["headers"])
    status, closed = await post(
        api, "/check-in/", {"code": booking["ticket"], "show_id": later["show"]["id"]}, door["headers"]
    )
    assert status == 409 and closed["code"] == "check_in_closed"
    # the check-in was written ahead: after a restart the second scan still says when the first was
    async with TestClient(TestServer(create_app(settings))) as client:
        restarted = Api(client)
        door = await staff(restarted)
        status, again = await post(restarted, "/check-in/", {"code": first, "show_id": show_id}, door["headers"])
        assert status == 409 and again["first_checked_in_at"] == admitted["checked_in_at"]


async def test_check_in_racing_cancel(api: Api, database_url: str) -> None:
    admin = await api.admin()
    status, movie = await post(api, "/movies/", {"title": "Race", "duration_minutes": 90}, admin["headers"])
    status, show = await post(
        api,
        f"/movies/{movie['id']}/shows/",
        {"screen_name": "R", "date_time": future(minutes=45), "total_seats": 60},
        admin["headers"],
    )
    users = await asyncio.gather(*(api.user() for _ in range(6)))
    door = await staff(api)
    tickets = []
    for seat_number in range(1, 61):
        user = users[seat_number % 6]
        status, booking = await post(api, f"/shows/{show['id']}/book/", {"seat_number": seat_number}, user["headers"])
        assert status == 201
        tickets.append((booking, user))
    results = await asyncio.gather(
        *(
            asyncio.gather(
                post(api, "/check-in/", {"code": b["ticket"], "show_id": show["id"]}, door["headers"]),
                post(api, f"/bookings/{b['id']}/cancel/", None, u["headers"]),
            )
            for b, u in tickets
        )
    )
    outcomes = Counter((check_in[0], cancel[0]) for check_in, cancel in results)
    assert set(outcomes) <= {(200, 409), (410, 200)}, outcomes
    assert sum(outcomes.values()) == 60
    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = {
                r.id: (r.status, r.checked_in_at is not None)
                for r in await conn.execute(
                    text("SELECT id, status, checked_in_at FROM bookings WHERE show_id = :s"), {"s": show["id"]}
                )
            }
            journal = Counter(
                r.op
                for r in await conn.execute(text("SELECT op FROM seat_journal WHERE show_id = :s"), {"s": show["id"]})
            )
    finally:
        await engine.dispose()
    for (booking, _), (check_in, _) in zip(tickets, results, strict=True):
        assert rows[booking["id"]] == (("booked", True) if check_in[0] == 200 else ("cancelled", False))
    assert journal["checkin"] == outcomes[(200, 409)] and journal["cancel"] == outcomes[(410, 200)]


async def test_companion_seats_and_wheelchair_best_available(api: Api) -> None:
    setup = await screen_show(api)
    show_id = setup["show"]["id"]
    user = await api.user()
    status, refused = await post(api, f"/shows/{show_id}/book/", {"seat_number": 6}, user["headers"])
    assert status == 409 and refused["code"] == "companion_needs_wheelchair" and refused["seats"] == [6]
    status, refused = await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [6, 7]}, user["headers"])
    assert status == 409 and refused["code"] == "companion_needs_wheelchair"
    status, refused = await post(api, f"/shows/{show_id}/hold/", {"seat_numbers": [6]}, user["headers"])
    assert status == 409 and refused["code"] == "companion_needs_wheelchair"
    # best available keeps wheelchair spaces and companion seats for those who ask for them
    status, best = await post(api, f"/shows/{show_id}/book/", {"count": 3}, user["headers"])
    assert status == 409 and best["code"] == "no_adjacent_seats"
    status, best = await post(api, f"/shows/{show_id}/book/", {"count": 2, "wheelchair": 1}, user["headers"])
    assert status == 201 and [b["seat_number"] for b in best["bookings"]] == [5, 6]  # the space and its companion
    for bad in ({"count": 1, "wheelchair": 2}, {"seat_numbers": [1], "wheelchair": 1}):
        assert (await post(api, f"/shows/{show_id}/book/", bad, user["headers"]))[0] == 400


async def test_qr_images_are_rendered_once_cacheable_and_rate_limited(aiohttp_client: Any, settings: Settings) -> None:
    """Each code's image is rendered once (then answered from memory), carries an immutable Cache-Control and
    a strong ETag (304 to If-None-Match), and one address gets CINEMA_QR_IMAGES_PER_ADDRESS a minute."""
    api = Api(await aiohttp_client(create_app(replace(settings, qr_images_per_address=8))))
    setup = await screen_show(api, future(minutes=600))
    ann = await api.user()
    _, booked = await post(api, f"/shows/{setup['show']['id']}/book/", {"seat_numbers": [3, 4]}, ann["headers"])
    first, second = (b["ticket"] for b in booked["bookings"])
    images = api.app[QR_IMAGES]
    one = await api.client.get(f"/tickets/{first}/qr.svg")
    body = await one.read()
    assert one.status == 200 and b"<svg" in body
    assert "immutable" in one.headers["Cache-Control"] and "max-age=31536000" in one.headers["Cache-Control"]
    etag = one.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = await api.client.get(f"/tickets/{first}/qr.svg")
    assert again.status == 200 and await again.read() == body and again.headers["ETag"] == etag
    assert images.renders == 1  # the second answer came from the cache
    unchanged = await api.client.get(f"/tickets/{first}/qr.svg", headers={"If-None-Match": etag})
    assert unchanged.status == 304 and await unchanged.read() == b"" and unchanged.headers["ETag"] == etag
    png = await api.client.get(f"/tickets/{first}/qr.png")
    assert png.status == 200 and png.headers["ETag"] != etag and images.renders == 2
    other = await api.client.get(f"/tickets/{second}/qr.png", headers={"If-None-Match": png.headers["ETag"]})
    assert other.status == 200 and images.renders == 3  # another code's ETag is not this one's
    answers = [await api.client.get(f"/tickets/{first}/qr.svg") for _ in range(4)]
    assert [answer.status for answer in answers] == [200, 200, 200, 429]  # 8 a minute from this address
    limited = answers[-1]
    assert (await limited.json())["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1


async def test_currencies_are_iso_4217_codes(api: Api) -> None:
    """From the maintained ISO 4217 list: made-up codes of the right shape are a 400 naming `currency`."""
    setup = await screen_and_movie(api)
    path, headers = f"/movies/{setup['movie']['id']}/shows/", setup["admin"]["headers"]
    for code in ("QQQ", "ABC", "ZZZ", "XXX", "eur", "EU"):
        body = {"screen_id": setup["screen"]["id"], "date_time": future(), **PRICES, "currency": code}
        status, answer = await post(api, path, body, headers)
        assert status == 400 and "currency" in answer["errors"], (code, answer)
    for days, code in ((1, "GBP"), (2, "JPY")):
        body = {
            "screen_id": setup["screen"]["id"],
            "date_time": future(minutes=1440 * days),
            **PRICES,
            "currency": code,
        }
        status, answer = await post(api, path, body, headers)
        assert status == 201, (code, answer)
