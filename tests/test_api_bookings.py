"""Booking, cancelling and listing through real HTTP, on both backends."""

from __future__ import annotations

import pytest

from tests.conftest import Api


async def test_book_returns_booking(api: Api) -> None:
    show = await api.show(total_seats=5)
    user = await api.user()
    response = await api.book(show["id"], 3, user["headers"])
    assert response.status == 201
    body = await response.json()
    assert body["user"] == user["id"] and body["seat_number"] == 3 and body["status"] == "booked"
    assert body["show"] == {k: show[k] for k in ("id", "screen_name", "date_time", "total_seats")}
    assert body["created_at"].endswith("+00:00") and isinstance(body["id"], int)


async def test_seat_taken_is_409(api: Api) -> None:
    show = await api.show(total_seats=5)
    ann, bob = await api.user(), await api.user()
    assert (await api.book(show["id"], 1, ann["headers"])).status == 201
    response = await api.book(show["id"], 1, bob["headers"])
    assert response.status == 409
    assert (await response.json())["detail"] == "Seat 1 is already booked."


async def test_sold_out_is_409(api: Api) -> None:
    show = await api.show(total_seats=2)
    user = await api.user()
    for seat in (1, 2):
        assert (await api.book(show["id"], seat, user["headers"])).status == 201
    response = await api.book(show["id"], 1, user["headers"])
    assert response.status == 409
    assert (await response.json())["detail"] == "The show is sold out."


@pytest.mark.parametrize("seat", [0, -3, 6, 2**31 - 1])
async def test_seat_out_of_range_is_400(api: Api, seat: int) -> None:
    show = await api.show(total_seats=5)
    user = await api.user()
    response = await api.book(show["id"], seat, user["headers"])
    assert response.status == 400
    assert (await response.json())["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"seat_number": "3"},
        {"seat_number": True},
        {"seat_number": 2.5},
        {"seat_number": None},
        {"seat_number": 10**30},
        {"seat": 3},
    ],
)
async def test_bad_book_body_is_400(api: Api, body: dict) -> None:
    show = await api.show(total_seats=5)
    user = await api.user()
    response = await api.client.post(f"/shows/{show['id']}/book/", json=body, headers=user["headers"])
    assert response.status == 400, await response.text()
    assert (await response.json())["detail"]


async def test_book_non_json_and_unknown_fields(api: Api) -> None:
    show = await api.show(total_seats=5)
    user = await api.user()
    response = await api.client.post(f"/shows/{show['id']}/book/", data=b"seat=3", headers=user["headers"])
    assert response.status == 415  # a form body is not JSON (issue 11: JSON routes take application/json only)
    response = await api.client.post(
        f"/shows/{show['id']}/book/", json={"seat_number": 3, "extra": "ignored"}, headers=user["headers"]
    )
    assert response.status == 201


async def test_book_needs_auth(api: Api) -> None:
    show = await api.show(total_seats=5)
    response = await api.client.post(f"/shows/{show['id']}/book/", json={"seat_number": 1})
    assert response.status == 401


async def test_book_unknown_show_is_404(api: Api) -> None:
    user = await api.user()
    for path in ("/shows/4242/book/", "/shows/99999999999/book/", "/shows/x/book/"):
        response = await api.client.post(path, json={"seat_number": 1}, headers=user["headers"])
        assert response.status == 404, path
        assert (await response.json())["detail"]


async def test_cancel_frees_seat(api: Api) -> None:
    show = await api.show(total_seats=1)
    ann, bob = await api.user(), await api.user()
    booking = await (await api.book(show["id"], 1, ann["headers"])).json()
    response = await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=ann["headers"])
    assert response.status == 200
    assert await response.json() == {"detail": "Booking cancelled.", "booking_id": booking["id"]}
    assert (await api.book(show["id"], 1, bob["headers"])).status == 201


async def test_cancel_errors(api: Api) -> None:
    show = await api.show(total_seats=3)
    ann, bob = await api.user(), await api.user()
    booking = await (await api.book(show["id"], 1, ann["headers"])).json()
    not_yours = await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=bob["headers"])
    assert not_yours.status == 404
    assert (await api.client.post("/bookings/999/cancel/", headers=ann["headers"])).status == 404
    assert (await api.client.post("/bookings/99999999999/cancel/", headers=ann["headers"])).status == 404
    assert (await api.client.post(f"/bookings/{booking['id']}/cancel/")).status == 401
    assert (await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=ann["headers"])).status == 200
    again = await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=ann["headers"])
    assert again.status == 409
    assert (await again.json())["detail"] == "Booking is already cancelled."
    # someone else's cancelled booking is still not theirs to learn about
    assert (await api.client.post(f"/bookings/{booking['id']}/cancel/", headers=bob["headers"])).status == 404


async def test_my_bookings(api: Api) -> None:
    show = await api.show(total_seats=3, title="Dune")
    ann, bob = await api.user(), await api.user()
    first = await (await api.book(show["id"], 1, ann["headers"])).json()
    second = await (await api.book(show["id"], 2, ann["headers"])).json()
    await api.book(show["id"], 3, bob["headers"])
    await api.client.post(f"/bookings/{first['id']}/cancel/", headers=ann["headers"])
    response = await api.client.get("/my-bookings/", headers=ann["headers"])
    assert response.status == 200
    bookings = await response.json()
    assert [(b["id"], b["status"], b["seat_number"]) for b in bookings] == [
        (second["id"], "booked", 2),
        (first["id"], "cancelled", 1),
    ]
    assert bookings[0]["show"]["movie"]["title"] == "Dune"
    assert set(bookings[0]["show"]) == {"id", "screen_name", "date_time", "total_seats", "movie"}
    assert set(bookings[0]["show"]["movie"]) == {"id", "title", "duration_minutes"}
    assert (await api.client.get("/my-bookings/")).status == 401


async def test_body_too_large_is_413(api: Api) -> None:
    show = await api.show(total_seats=3)
    user = await api.user()
    response = await api.client.post(
        f"/shows/{show['id']}/book/",
        data=b'{"seat_number": 1, "pad": "' + b"x" * 200_000 + b'"}',
        headers={**user["headers"], "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["detail"]
