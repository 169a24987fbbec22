"""Movies and shows: public listings and admin creation."""

from __future__ import annotations

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
