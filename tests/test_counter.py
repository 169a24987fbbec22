"""The box-office counter and ticket types, through real HTTP on both backends: counter sales to walk-ins (no
account), ticket types priced and summed, the per-customer cap (customers only, and its 409 names it), the
orders list and refunds by staff. Plus the pure group-seating rule, without I/O."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from engine.layout import detailed_layout
from engine.seats import SeatState, best_group
from storage.database import open_engine
from tests.conftest import Api
from tests.test_box_office import get, post
from web.app import create_app
from web.context import HASHER, REPOSITORY
from web.settings import Settings

PRICES = {
    "prices": {
        "standard": {"adult": 1200, "child": 800, "senior": 900},
        "premium": {"adult": 1600, "child": 1200},
    },
    "currency": "EUR",
}
# Rows A-D: 10 standard seats each (1-40); row E: 10 premium seats (41-50).
HALL = [
    {
        "label": row,
        "positions": [
            {"label": f"{row}{n}", "category": "premium" if row == "E" else "standard"} for n in range(1, 11)
        ],
    }
    for row in "ABCDE"
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_seats_per_user=10)  # the service's default cap, which conftest lifts


async def staff(api: Api) -> dict[str, Any]:
    username = f"till-{uuid.uuid4().hex[:8]}"
    password_hash = await api.app[HASHER].hash("tillpassword")
    user = await api.app[REPOSITORY].create_user(username, f"{username}@example.com", password_hash, is_staff=True)
    tokens = await (await api.client.post("/login", json={"username": username, "password": "tillpassword"})).json()
    return {"id": user.id, "username": username, "headers": {"Authorization": f"Bearer {tokens['access']}"}}


async def hall_show(api: Api, **prices: Any) -> dict[str, Any]:
    admin = await api.admin()
    status, screen = await post(
        api, "/screens/", {"name": f"Hall {uuid.uuid4().hex[:6]}", "rows": HALL}, admin["headers"]
    )
    assert status == 201, screen
    status, movie = await post(api, "/movies/", {"title": "Film", "duration_minutes": 90}, admin["headers"])
    assert status == 201, movie
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"screen_id": screen["id"], "date_time": when, **(prices or PRICES)}
    status, show = await post(api, f"/movies/{movie['id']}/shows/", body, admin["headers"])
    assert status == 201, show
    return {"admin": admin, "show": show, "id": show["id"]}


def euros(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


async def test_counter_sells_12_seats_and_a_group_of_30_to_walk_ins(api: Api) -> None:
    setup = await hall_show(api)
    show_id, till = setup["id"], await staff(api)
    walk_in = {"name": "Hill Street School", "email": "office@hill.example"}
    body = {"seat_numbers": list(range(1, 13)), "payment": "cash", "customer": walk_in}
    status, order = await post(api, f"/shows/{show_id}/sell/", body, till["headers"])
    assert status == 201, order
    assert order["channel"] == "counter" and order["payment"] == "cash" and order["customer"] == walk_in
    assert order["sold_by"] == {"id": till["id"], "username": till["username"]}
    assert [s["seat_number"] for s in order["seats"]] == list(range(1, 13)) and order["status"] == "booked"
    assert all(s["ticket_type"] == "adult" and s["price"] == euros(1200) for s in order["seats"])
    assert order["total"] == euros(12 * 1200) and order["refunds"] == []
    ticket = order["seats"][0]
    qr = await api.client.get(ticket["qr"])
    assert (
        qr.status == 200
        and qr.content_type == "image/svg+xml"
        and ticket["ticket"].startswith(f"{ticket['booking_id']}-")
    )

    status, group = await post(api, f"/shows/{show_id}/sell/", {"count": 30, "payment": "card"}, till["headers"])
    assert status == 201, group
    seats = [s["seat_number"] for s in group["seats"]]
    assert len(set(seats)) == 30 and not set(seats) & set(range(1, 13)) and group["customer"] is None
    assert group["total"] == euros(sum(1600 if s > 40 else 1200 for s in seats)) and group["channel"] == "counter"
    status, view = await get(api, f"/shows/{show_id}/seats/")
    assert status == 200 and sorted(view["booked"]) == sorted([*range(1, 13), *seats])

    # an admin sells too; what is left is too little for another group
    status, last = await post(
        api, f"/shows/{show_id}/sell/", {"count": 8, "payment": "card"}, setup["admin"]["headers"]
    )
    assert status == 201 and len(last["seats"]) == 8
    status, refused = await post(api, f"/shows/{show_id}/sell/", {"count": 5, "payment": "cash"}, till["headers"])
    assert status == 409 and refused["code"] == "no_adjacent_seats" and "0 free" in refused["detail"]

    customer = await api.user()
    elsewhere = await hall_show(api)
    assert (await post(api, f"/shows/{elsewhere['id']}/book/", {"seat_numbers": [5, 6]}, customer["headers"]))[0] == 201
    status, page = await get(api, f"/orders/?show={show_id}&channel=counter", till["headers"])
    assert status == 200 and page["count"] == 3 and page["previous"] is None and page["next"] is None
    assert [o["id"] for o in page["results"]] == [last["id"], group["id"], order["id"]]  # newest first
    status, online = await get(api, "/orders/?channel=online", till["headers"])
    assert status == 200 and online["count"] == 1 and online["results"][0]["channel"] == "online"
    assert online["results"][0]["sold_by"] is None and online["results"][0]["payment"] is None
    status, everything = await get(api, "/orders/", till["headers"])
    assert status == 200 and everything["count"] == 4 and len(everything["results"]) == 4
    status, first_page = await get(api, f"/orders/?show={show_id}", till["headers"])
    assert first_page["count"] == 3
    for bad in ("?channel=phone", "?show=abc", "?show=0"):
        status, error = await get(api, f"/orders/{bad}", till["headers"])
        assert status == 400 and error["code"] == "invalid_query", bad
    status, error = await get(api, "/orders/?page=9", till["headers"])
    assert status == 404 and error["code"] == "invalid_page"
    status, looked_up = await get(api, f"/orders/{order['id']}/", till["headers"])  # staff see any order
    assert status == 200 and looked_up["customer"] == walk_in


async def test_a_large_hall_pages_its_counter_orders(api: Api) -> None:
    setup = await hall_show(api)
    till = await staff(api)
    for seat in range(1, 8):
        assert (
            await post(api, f"/shows/{setup['id']}/sell/", {"seat_numbers": [seat], "payment": "cash"}, till["headers"])
        )[0] == 201
    status, page = await get(api, f"/orders/?show={setup['id']}&channel=counter", till["headers"])
    assert status == 200 and page["count"] == 7 and len(page["results"]) == 5 and page["next"].endswith("page=2")
    status, second = await get(api, f"/orders/?show={setup['id']}&channel=counter&page=2", till["headers"])
    assert len(second["results"]) == 2 and second["previous"] is not None and second["next"] is None


async def test_ticket_types_are_priced_and_summed(api: Api, database_url: str) -> None:
    setup = await hall_show(api)
    show_id, user = setup["id"], await api.user()
    status, listed = await get(api, f"/movies/{setup['show']['movie']}/shows/")
    assert listed["shows"][0]["prices"]["standard"] == {
        **euros(1200),
        "types": {"adult": euros(1200), "child": euros(800), "senior": euros(900)},
    }
    body = {"seat_numbers": [1, 2, 3], "ticket_types": ["adult", "child", "senior"]}
    status, booked = await post(api, f"/shows/{show_id}/book/", body, user["headers"])
    assert status == 201, booked
    assert [(b["ticket_type"], b["price"]["amount"]) for b in booked["bookings"]] == [
        ("adult", 1200),
        ("child", 800),
        ("senior", 900),
    ]
    assert booked["total"] == euros(2900)
    status, one = await post(
        api, f"/shows/{show_id}/book/", {"seat_number": 41, "ticket_types": ["child"]}, user["headers"]
    )
    assert status == 201 and one["ticket_type"] == "child" and one["price"] == euros(1200)
    status, order = await get(api, f"/orders/{booked['order']}/", user["headers"])
    assert status == 200 and order["total"] == euros(2900) and order["channel"] == "online"
    assert [s["ticket_type"] for s in order["seats"]] == ["adult", "child", "senior"]

    # a type the show does not sell there, an unknown one, and a list that does not match the seats
    status, refused = await post(
        api, f"/shows/{show_id}/book/", {"seat_numbers": [42], "ticket_types": ["senior"]}, user["headers"]
    )
    assert status == 400 and refused["code"] == "unknown_ticket_type" and refused["ticket_type"] == "senior"
    assert (
        "senior" in refused["detail"]
        and refused["category"] == "premium"
        and refused["ticket_types"] == ["adult", "child"]
    )
    status, refused = await post(
        api, f"/shows/{show_id}/book/", {"count": 2, "ticket_types": ["adult", "pensioner"]}, user["headers"]
    )
    assert status == 400 and refused["code"] == "unknown_ticket_type" and "pensioner" in refused["detail"]
    status, refused = await post(
        api, f"/shows/{show_id}/book/", {"seat_numbers": [4, 5], "ticket_types": ["child"]}, user["headers"]
    )
    assert status == 400 and refused["code"] == "ticket_types_mismatch"
    status, view = await get(api, f"/shows/{show_id}/seats/")
    assert sorted(view["booked"]) == [1, 2, 3, 41]  # nothing refused was booked

    # a hold keeps its types and prices; confirming may change them
    status, hold = await post(
        api, f"/shows/{show_id}/hold/", {"seat_numbers": [7, 8], "ticket_types": ["child", "child"]}, user["headers"]
    )
    assert status == 201, hold
    assert hold["seats"] == [
        {"seat_number": 7, "ticket_type": "child", "price": euros(800)},
        {"seat_number": 8, "ticket_type": "child", "price": euros(800)},
    ]
    assert hold["total"] == hold["price"] == euros(1600)
    status, confirmed = await post(api, f"/holds/{hold['hold_id']}/confirm/", None, user["headers"])
    assert status == 201 and [b["ticket_type"] for b in confirmed["bookings"]] == ["child", "child"]
    assert confirmed["total"] == euros(1600)
    status, hold = await post(api, f"/shows/{show_id}/hold/", {"seat_numbers": [9, 10]}, user["headers"])
    status, refused = await post(
        api, f"/holds/{hold['hold_id']}/confirm/", {"ticket_types": ["senior"]}, user["headers"]
    )
    assert status == 400 and refused["code"] == "ticket_types_mismatch"
    status, confirmed = await post(
        api, f"/holds/{hold['hold_id']}/confirm/", {"ticket_types": ["senior", "adult"]}, user["headers"]
    )
    assert status == 201 and confirmed["total"] == euros(2100)

    # at the counter: types summed, complimentary tickets cost nothing
    till = await staff(api)
    sale = {"count": 4, "ticket_types": ["adult", "adult", "child", "senior"], "payment": "card"}
    status, sold = await post(api, f"/shows/{show_id}/sell/", sale, till["headers"])
    assert status == 201 and sold["total"] == euros(1200 + 1200 + 800 + 900), sold
    status, free = await post(
        api, f"/shows/{show_id}/sell/", {"seat_numbers": [45, 46], "payment": "complimentary"}, till["headers"]
    )
    assert status == 201 and free["total"] == euros(0) and free["payment"] == "complimentary"

    # stored per booking: a report can group by type
    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT ticket_type, count(*), sum(price) FROM bookings WHERE show_id = :show "
                    "AND status = 'booked' GROUP BY ticket_type ORDER BY ticket_type"
                ),
                {"show": show_id},
            )
            report = {r[0]: (r[1], r[2]) for r in rows}
    finally:
        await engine.dispose()
    assert report == {
        "adult": (6, 1200 + 1200 + 1200 * 2 + 0),
        "child": (5, 800 * 3 + 1200 + 800),
        "senior": (3, 900 * 3),
    }
    # ... and the manager's report does (nothing was cancelled here, so sold = booked)
    status, figures = await get(api, f"/reports/shows/{show_id}/", setup["admin"]["headers"])
    assert status == 200, figures
    by_type: dict[str, tuple[int, int]] = {}
    for line in figures["lines"]:
        sold, gross = by_type.get(line["ticket_type"], (0, 0))
        by_type[line["ticket_type"]] = (sold + line["sold"], gross + line["gross"])
    assert by_type == report
    channels = {(line["channel"], line["ticket_type"], line["price"]): line["sold"] for line in figures["lines"]}
    assert channels[("counter", "senior", 900)] == 1 and channels[("counter", "adult", 0)] == 2
    assert channels[("online", "child", 800)] == 3 and channels[("counter", "child", 800)] == 1  # seats 2, 7, 8

    # a plain price is one type, adult
    plain = await hall_show(api, prices={"standard": 1000, "premium": 1500}, currency="EUR")
    status, refused = await post(
        api, f"/shows/{plain['id']}/book/", {"seat_numbers": [1], "ticket_types": ["child"]}, user["headers"]
    )
    assert status == 400 and refused["code"] == "unknown_ticket_type" and refused["ticket_types"] == ["adult"]
    status, adult = await post(
        api, f"/shows/{plain['id']}/book/", {"seat_numbers": [1], "ticket_types": ["adult"]}, user["headers"]
    )
    assert status == 201 and adult["total"] == euros(1000)
    # prices per type must include adult, the default
    status, bad = await post(
        api,
        f"/movies/{setup['show']['movie']}/shows/",
        {
            "screen_name": "Old",
            "date_time": (datetime.now(UTC) + timedelta(days=9)).isoformat(),
            "total_seats": 5,
            "prices": {"standard": {"child": 500}},
            "currency": "EUR",
        },
        setup["admin"]["headers"],
    )
    assert status == 400 and "adult" in str(bad["errors"])


async def test_customers_meet_the_cap_and_the_409_names_it_staff_do_not(api: Api) -> None:
    setup = await hall_show(api)
    show_id, user, till = setup["id"], await api.user(), await staff(api)
    assert (await post(api, f"/shows/{show_id}/book/", {"seat_numbers": list(range(1, 7))}, user["headers"]))[0] == 201
    for path, body in (
        ("book/", {"seat_numbers": list(range(11, 17))}),
        ("hold/", {"seat_numbers": [21, 22, 23, 24, 25]}),
        ("book/", {"count": 5}),
    ):
        status, refused = await post(api, f"/shows/{show_id}/{path}", body, user["headers"])
        assert status == 409 and refused["code"] == "seat_limit" and refused["limit"] == 10, refused
        assert "10" in refused["detail"]
    assert (await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [7, 8, 9, 10]}, user["headers"]))[0] == 201
    # staff and admins book past it, on the customers' route too
    for who in (till, setup["admin"]):
        for _ in range(2):
            body = {"count": 6}
            status, booked = await post(api, f"/shows/{show_id}/book/", body, who["headers"])
            assert status == 201 and len(booked["bookings"]) == 6, booked


async def test_a_refund_cancels_the_live_seats_and_records_it(api: Api, database_url: str) -> None:
    setup = await hall_show(api)
    show_id, till, user = setup["id"], await staff(api), await api.user()
    sale = {"seat_numbers": [11, 12, 13], "ticket_types": ["adult", "child", "senior"], "payment": "cash"}
    status, order = await post(api, f"/shows/{show_id}/sell/", sale, till["headers"])
    assert status == 201
    status, refunded = await post(api, f"/orders/{order['id']}/refund/", None, till["headers"])
    assert status == 200, refunded
    assert refunded["seat_numbers"] == [11, 12, 13] and refunded["order_id"] == order["id"]
    assert refunded["refund"]["amount"] == euros(1200 + 800 + 900) and refunded["refund"]["method"] == "cash"
    assert refunded["refund"]["refunded_by"] == till["id"]
    assert refunded["order"]["status"] == "cancelled" and refunded["order"]["refunds"] == [refunded["refund"]]
    status, view = await get(api, f"/shows/{show_id}/seats/")
    assert not {11, 12, 13} & set(view["booked"])  # free again: anyone can take them
    assert (await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [11, 12]}, user["headers"]))[0] == 201
    status, again = await post(api, f"/orders/{order['id']}/refund/", None, till["headers"])
    assert status == 409 and again["code"] == "already_cancelled"

    # an online order, refunded at the counter to the card; and a complimentary sale pays back nothing
    status, online = await post(
        api, f"/shows/{show_id}/book/", {"seat_numbers": [41, 42], "ticket_types": ["adult", "child"]}, user["headers"]
    )
    status, refunded = await post(api, f"/orders/{online['order']}/refund/", {"method": "card"}, till["headers"])
    assert (
        status == 200
        and refunded["refund"]["amount"] == euros(1600 + 1200)
        and refunded["order"]["channel"] == "online"
    )
    status, free = await post(api, f"/shows/{show_id}/sell/", {"count": 2, "payment": "complimentary"}, till["headers"])
    status, refunded = await post(api, f"/orders/{free['id']}/refund/", {}, till["headers"])
    assert (
        status == 200 and refunded["refund"]["amount"] == euros(0) and refunded["refund"]["method"] == "complimentary"
    )
    for missing in (999_999, online["bookings"][1]["id"]):  # no such order; a later seat is not an order
        status, error = await post(api, f"/orders/{missing}/refund/", {"method": "cash"}, till["headers"])
        assert status == 404 and error["code"] == "unknown_order"
    status, error = await post(api, f"/orders/{order['id']}/refund/", {"method": "bitcoin"}, till["headers"])
    assert status == 400

    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            refunds = (
                await conn.execute(text("SELECT order_id, amount, method, refunded_by FROM refunds ORDER BY id"))
            ).all()
            journal = (
                await conn.execute(
                    text("SELECT user_id FROM seat_journal WHERE op = 'cancel' AND booking_id = :b"),
                    {"b": order["seats"][0]["booking_id"]},
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in refunds] == [
        (order["id"], 2900, "cash", till["id"]),
        (online["order"], 2800, "card", till["id"]),
        (free["id"], 0, "complimentary", till["id"]),
    ]
    assert [tuple(r) for r in journal] == [(till["id"],)]  # journalled like any cancel, by the staff member


async def test_customers_cannot_sell_list_or_refund(api: Api) -> None:
    setup = await hall_show(api)
    show_id, user, till = setup["id"], await api.user(), await staff(api)
    status, order = await post(api, f"/shows/{show_id}/book/", {"seat_numbers": [1, 2]}, user["headers"])
    assert status == 201
    for path, body in (
        (f"/shows/{show_id}/sell/", {"count": 2, "payment": "cash"}),
        (f"/orders/{order['order']}/refund/", {}),
    ):
        status, error = await post(api, path, body, user["headers"])
        assert status == 403 and error["code"] == "permission_denied", path
        assert (await post(api, path, body))[0] == 401
    assert (await get(api, "/orders/", user["headers"]))[0] == 403
    status, view = await get(api, f"/shows/{show_id}/seats/")
    assert sorted(view["booked"]) == [1, 2]
    # the sale's own input is checked
    for bad in (
        {"count": 2},
        {"count": 2, "seat_numbers": [3, 4], "payment": "cash"},
        {"count": 2, "payment": "iou"},
        {"count": 2, "payment": "cash", "customer": {"email": "not-an-email"}},
        {"seat_numbers": [], "payment": "cash"},
    ):
        status, error = await post(api, f"/shows/{show_id}/sell/", bad, till["headers"])
        assert status == 400 and error["code"] == "invalid_input", bad
    status, error = await post(
        api, f"/shows/{show_id}/sell/", {"seat_numbers": [1, 3], "payment": "cash"}, till["headers"]
    )
    assert status == 409 and error["code"] == "seats_unavailable" and error["seats"] == [1]
    status, error = await post(
        api, f"/shows/{show_id}/sell/", {"seat_numbers": [51], "payment": "cash"}, till["headers"]
    )
    assert status == 400 and error["code"] == "seat_out_of_range"
    assert (await post(api, "/shows/999999/sell/", {"count": 1, "payment": "cash"}, till["headers"]))[0] == 404


def test_a_group_fills_the_fewest_blocks_nearest_the_middle() -> None:
    layout = detailed_layout([(row, [(f"{row}{n}", "standard", "standard") for n in range(1, 9)]) for row in "ABCDE"])
    state = SeatState(layout.total_seats)
    state.use_layout(layout)
    assert best_group(state, 8) == tuple(range(17, 25))  # one whole row: the middle one, C
    group = best_group(state, 20)
    assert group is not None and len(set(group)) == 20
    rows = {(seat - 1) // 8 for seat in group}
    assert rows == {1, 2, 3}  # B, C, D: two full rows and four seats of a third
    assert state.index is not None and all(state.index.is_free(seat) for seat in range(1, 41))  # left as it was
    assert best_group(state, 41) is None
    assert best_group(SeatState(10), 2) is None  # no layout, no best seats


async def test_types_prices_and_holds_survive_a_restart(aiohttp_client: Any, settings: Settings) -> None:
    """What a refund pays back and a hold's ticket types are read from disk when the show's actor loads again."""
    first = Api(await aiohttp_client(create_app(settings)))
    setup = await hall_show(first)
    till, user = await staff(first), await first.user()
    sale = {"seat_numbers": [41, 42], "ticket_types": ["adult", "child"], "payment": "card"}
    status, order = await post(first, f"/shows/{setup['id']}/sell/", sale, till["headers"])
    assert status == 201
    body = {"seat_numbers": [1, 2], "ticket_types": ["senior", "child"]}
    status, hold = await post(first, f"/shows/{setup['id']}/hold/", body, user["headers"])
    assert status == 201
    await first.client.close()

    again = Api(await aiohttp_client(create_app(settings)))
    status, confirmed = await post(again, f"/holds/{hold['hold_id']}/confirm/", None, user["headers"])
    assert status == 201 and [b["ticket_type"] for b in confirmed["bookings"]] == ["senior", "child"]
    assert confirmed["total"] == euros(900 + 800)
    status, refunded = await post(again, f"/orders/{order['id']}/refund/", None, till["headers"])
    assert (
        status == 200 and refunded["refund"]["amount"] == euros(1600 + 1200) and refunded["refund"]["method"] == "card"
    )
