"""One screen, one time: a show created the seed's way (`screen_name` + `total_seats`) is on the screen of that
name, created when new, so the no-overlap rule holds however a show is made; shows stored before are migrated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage.database import open_engine
from storage.migrate import downgrade, upgrade
from tests.conftest import Api


def later(hours: float = 48) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


async def test_two_seed_style_shows_on_one_screen_at_one_time(api: Api) -> None:
    admin = await api.admin()
    movie = await (
        await api.client.post("/movies/", json={"title": "Twice", "duration_minutes": 100}, headers=admin["headers"])
    ).json()
    seed_way = {"screen_name": "Hall 9", "date_time": later(), "total_seats": 30}
    first = await api.client.post(f"/movies/{movie['id']}/shows/", json=seed_way, headers=admin["headers"])
    assert first.status == 201, await first.text()
    second = await api.client.post(f"/movies/{movie['id']}/shows/", json=seed_way, headers=admin["headers"])
    assert second.status == 409
    body = await second.json()
    assert body["code"] == "schedule_clash" and body["clash"]["show_id"] == (await first.json())["id"]
    # the name made a screen (a plain layout of its 30 seats), and the show is on it
    screens = (await (await api.client.get("/screens/")).json())["results"]
    hall = next(s for s in screens if s["name"] == "Hall 9")
    assert hall["total_seats"] == 30 and (await first.json())["screen_id"] == hall["id"]
    # the same screen by id clashes too; after the film and the cleaning gap it is free again
    by_id = {"screen_id": hall["id"], "date_time": later(49)}
    assert (await api.client.post(f"/movies/{movie['id']}/shows/", json=by_id, headers=admin["headers"])).status == 409
    free_again = {**seed_way, "date_time": later(48 + 100 / 60 + 0.25)}
    response = await api.client.post(f"/movies/{movie['id']}/shows/", json=free_again, headers=admin["headers"])
    assert response.status == 201, await response.text()
    # another size on that screen is refused, saying why
    other_size = {**seed_way, "date_time": later(72), "total_seats": 31}
    response = await api.client.post(f"/movies/{movie['id']}/shows/", json=other_size, headers=admin["headers"])
    assert response.status == 400 and "30 seats" in (await response.json())["detail"]


async def test_naming_a_screen_with_a_layout_takes_its_layout(api: Api) -> None:
    admin = await api.admin()
    rows = [{"label": "A", "positions": [{"label": "A1", "category": "premium"}, None, {"label": "A2"}]}]
    screen = await api.client.post("/screens/", json={"name": "Studio", "rows": rows}, headers=admin["headers"])
    assert screen.status == 201
    movie = await (
        await api.client.post("/movies/", json={"title": "Lay", "duration_minutes": 90}, headers=admin["headers"])
    ).json()
    body = {"screen_name": "Studio", "date_time": later(), "total_seats": 2}
    show = await api.client.post(f"/movies/{movie['id']}/shows/", json=body, headers=admin["headers"])
    assert show.status == 201, await show.text()
    user = await api.user()
    booked = await (await api.book((await show.json())["id"], 1, user["headers"])).json()
    assert booked["seat_label"] == "A1"


async def test_migration_puts_stored_shows_on_screens(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        await downgrade(engine, "0008")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO movies (id, title, duration_minutes) VALUES (1, 'm', 90)"))
            for show_id, name, seats in ((1, "Old", 40), (2, "Old", 45), (3, "Other", 5)):
                await conn.execute(
                    text(
                        "INSERT INTO shows (id, movie_id, screen_name, date_time, total_seats) "
                        "VALUES (:id, 1, :name, CURRENT_TIMESTAMP, :seats)"
                    ),
                    {"id": show_id, "name": name, "seats": seats},
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            screens = dict((await conn.execute(text("SELECT name, total_seats FROM screens"))).all())
            linked = (
                await conn.execute(
                    text("SELECT s.id, c.name FROM shows s JOIN screens c ON c.id = s.screen_id ORDER BY s.id")
                )
            ).all()
            bands = (
                await conn.execute(text("SELECT show_id, first_seat, last_seat, category FROM show_seat_bands"))
            ).all()
        assert screens == {"Old": 45, "Other": 5}
        assert [tuple(r) for r in linked] == [(1, "Old"), (2, "Old"), (3, "Other")]
        assert sorted(tuple(b) for b in bands) == [
            (1, 1, 40, "standard"),
            (2, 1, 45, "standard"),
            (3, 1, 5, "standard"),
        ]
    finally:
        await engine.dispose()
