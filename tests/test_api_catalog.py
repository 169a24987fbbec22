"""Movies and shows: public listings and admin creation."""

from __future__ import annotations

import pytest

from tests.conftest import Api


async def test_movies_paginate(api: Api) -> None:
    admin = await api.admin()
    for n in range(7):
        response = await api.client.post(
            "/movies/", json={"title": f"Movie {n}", "duration_minutes": 90 + n}, headers=admin["headers"]
        )
        assert response.status == 201
    first = await (await api.client.get("/movies/")).json()
    assert first["count"] == 7 and len(first["results"]) == 5
    assert first["previous"] is None and first["next"].endswith("/movies/?page=2")
    assert first["results"][0] == {"id": first["results"][0]["id"], "title": "Movie 0", "duration_minutes": 90}
    second = await (await api.client.get("/movies/?page=2")).json()
    assert [m["title"] for m in second["results"]] == ["Movie 5", "Movie 6"]
    assert second["next"] is None and second["previous"].endswith("page=1")
    for page in ("3", "0", "abc", "99999999999999"):
        response = await api.client.get(f"/movies/?page={page}")
        assert response.status == 404, page


async def test_empty_catalog(api: Api) -> None:
    assert await (await api.client.get("/movies/")).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


async def test_movie_shows_lists_available_seats(api: Api) -> None:
    show = await api.show(total_seats=4)
    user = await api.user()
    assert (await api.book(show["id"], 2, user["headers"])).status == 201
    movies = await (await api.client.get("/movies/")).json()
    movie_id = movies["results"][0]["id"]
    body = await (await api.client.get(f"/movies/{movie_id}/shows/")).json()
    assert body["id"] == movie_id and body["title"] == "Test Movie" and body["duration_minutes"] == 120
    assert body["shows"] == [
        {
            "id": show["id"],
            "screen_name": "Screen 1",
            "date_time": show["date_time"],
            "total_seats": 4,
            "available_seats": 3,
            "screen_id": show["screen_id"],
        }
    ]


async def test_movie_shows_not_found(api: Api) -> None:
    for path in ("/movies/999/shows/", "/movies/abc/shows/", "/movies/99999999999999999999/shows/"):
        response = await api.client.get(path)
        assert response.status == 404, path
        assert (await response.json())["detail"]


async def test_admin_creates_need_admin(api: Api) -> None:
    user = await api.user()
    response = await api.client.post("/movies/", json={"title": "X", "duration_minutes": 90}, headers=user["headers"])
    assert response.status == 403
    response = await api.client.post("/movies/", json={"title": "X", "duration_minutes": 90})
    assert response.status == 401
    response = await api.client.post(
        "/movies/1/shows/",
        json={"screen_name": "A", "date_time": "2030-01-01T10:00:00Z", "total_seats": 5},
        headers=user["headers"],
    )
    assert response.status == 403


async def test_admin_create_validation(api: Api) -> None:
    admin = await api.admin()
    for body in (
        {"title": "", "duration_minutes": 90},
        {"title": "X", "duration_minutes": 0},
        {"title": "X", "duration_minutes": "90"},
    ):
        response = await api.client.post("/movies/", json=body, headers=admin["headers"])
        assert response.status == 400, body
    movie = await (
        await api.client.post("/movies/", json={"title": "X", "duration_minutes": 90}, headers=admin["headers"])
    ).json()
    for body in (
        {"screen_name": "A", "date_time": "not a date", "total_seats": 5},
        {"screen_name": "A", "date_time": "2030-01-01T10:00:00Z", "total_seats": 0},
        {"screen_name": "A", "date_time": "2030-01-01T10:00:00Z", "total_seats": 10**9},
    ):
        response = await api.client.post(f"/movies/{movie['id']}/shows/", json=body, headers=admin["headers"])
        assert response.status == 400, body
    response = await api.client.post(
        "/movies/424242/shows/",
        json={"screen_name": "A", "date_time": "2030-01-01T10:00:00Z", "total_seats": 5},
        headers=admin["headers"],
    )
    assert response.status == 404


async def test_create_show_returns_object(api: Api) -> None:
    admin = await api.admin()
    movie = await (
        await api.client.post("/movies/", json={"title": "X", "duration_minutes": 90}, headers=admin["headers"])
    ).json()
    response = await api.client.post(
        f"/movies/{movie['id']}/shows/",
        json={"screen_name": "IMAX", "date_time": "2030-01-01T10:00:00+02:00", "total_seats": 50},
        headers=admin["headers"],
    )
    assert response.status == 201
    assert await response.json() == {
        "id": 1,
        "movie": movie["id"],
        "screen_name": "IMAX",
        "date_time": "2030-01-01T08:00:00+00:00",
        "total_seats": 50,
        "available_seats": 50,
        "screen_id": 1,
    }


async def test_unknown_route_is_json_404(api: Api) -> None:
    response = await api.client.get("/nope")
    assert response.status == 404
    assert (await response.json())["detail"]
    response = await api.client.delete("/movies/")
    assert response.status == 405
    assert (await response.json())["detail"]


@pytest.mark.parametrize("bad", ["\u202eevil", "zero\u200bwidth", "bell\x07", "line\nbreak", "\ufeffbom"])
async def test_titles_and_labels_refuse_control_and_invisible_characters(api: Api, bad: str) -> None:
    """Shown on tickets and kiosks as typed: Cc and Cf characters (U+202E, U+200B, ...) are a 400 naming
    the field, in movie titles, show screen names, row labels and screen names and seat labels."""
    admin = await api.admin()
    headers = admin["headers"]
    movie = await api.client.post("/movies/", json={"title": bad, "duration_minutes": 90}, headers=headers)
    assert movie.status == 400 and "title" in (await movie.json())["errors"], await movie.text()
    good = await api.client.post(
        "/movies/", json={"title": "Fine \u00e9\u4e2d", "duration_minutes": 90}, headers=headers
    )
    assert good.status == 201
    movie_id = (await good.json())["id"]
    when = "2030-01-01T20:00:00Z"
    for body, field in (
        ({"screen_name": bad, "date_time": when, "total_seats": 5}, "screen_name"),
        ({"screen_name": "S", "date_time": when, "rows": [{"label": bad[:8], "seats": 5}]}, "rows"),
    ):
        show = await api.client.post(f"/movies/{movie_id}/shows/", json=body, headers=headers)
        assert show.status == 400 and field in (await show.json())["errors"], await show.text()
    seat = [{"label": "1"}]
    for body, field in (
        ({"name": bad, "rows": [{"label": "A", "positions": seat}]}, "name"),
        ({"name": "Hall", "rows": [{"label": bad[:8], "positions": seat}]}, "rows"),
        ({"name": "Hall", "rows": [{"label": "A", "positions": [{"label": bad[:16]}]}]}, "rows"),
    ):
        screen = await api.client.post("/screens/", json=body, headers=headers)
        assert screen.status == 400 and field in (await screen.json())["errors"], await screen.text()
