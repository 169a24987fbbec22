"""GET /shows/: the programme by the cinema's calendar (CINEMA_TIMEZONE), across a date line and DST changes."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api
from web.app import create_app
from web.settings import Settings


async def api_in(aiohttp_client: Any, settings: Settings, zone: str) -> Api:
    app = create_app(dataclasses.replace(settings, timezone=zone))
    return Api(await aiohttp_client(app, connector=aiohttp.TCPConnector(limit=50)))


async def schedule(api: Api, times: list[str], title: str = "Calendar") -> tuple[int, list[int]]:
    """A movie with one show at each UTC time, each on a screen of its own (they may overlap in time)."""
    admin = await api.admin()
    movie = await (
        await api.client.post("/movies/", json={"title": title, "duration_minutes": 100}, headers=admin["headers"])
    ).json()
    ids = []
    for n, when in enumerate(times):
        response = await api.client.post(
            f"/movies/{movie['id']}/shows/",
            json={"screen_name": f"{title} {n}", "date_time": when, "total_seats": 4},
            headers=admin["headers"],
        )
        assert response.status == 201, await response.text()
        ids.append((await response.json())["id"])
    return movie["id"], ids


async def day(api: Api, query: str) -> list[int]:
    response = await api.client.get(f"/shows/?{query}")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["count"] == len(body["results"]) <= 5
    return [show["id"] for show in body["results"]]


async def test_a_day_across_the_date_line(aiohttp_client: Any, settings: Settings) -> None:
    """The same two instants fall on different local days on either side of the date line."""
    east = await api_in(aiohttp_client, settings, "Pacific/Kiritimati")  # UTC+14
    _, (late, early) = await schedule(east, ["2027-01-10T11:00:00Z", "2027-01-10T09:00:00Z"])
    # 11:00Z is 01:00 on the 11th at UTC+14; 09:00Z is 23:00 on the 10th there
    assert await day(east, "date=2027-01-11") == [late]
    assert await day(east, "date=2027-01-10") == [early]
    west = await api_in(aiohttp_client, dataclasses.replace(settings), "Pacific/Pago_Pago")  # UTC-11
    # ... and at UTC-11 both are on the 9th/10th: 09:00Z is 22:00 on the 9th, 11:00Z is 00:00 on the 10th
    assert await day(west, "date=2027-01-09") == [early]
    assert await day(west, "date=2027-01-10") == [late]
    body = await (await west.client.get("/shows/?date=2027-01-10")).json()
    show = body["results"][0]
    assert body["timezone"] == "Pacific/Pago_Pago"
    assert show["local_time"] == "2027-01-10T00:00:00-11:00" and show["local_date"] == "2027-01-10"
    assert show["date_time"] == "2027-01-10T11:00:00+00:00" and show["ends_at"] == "2027-01-10T12:40:00+00:00"
    assert show["movie"]["title"] == "Calendar" and show["available_seats"] == 4 and show["total_seats"] == 4


@pytest.mark.parametrize(
    ("date", "inside", "outside"),
    [
        # London springs forward at 01:00Z on 2027-03-28: that day is 23 hours, 00:00Z to 23:00Z
        (
            "2027-03-28",
            ["2027-03-28T00:30:00Z", "2027-03-28T22:30:00Z"],
            ["2027-03-27T23:30:00Z", "2027-03-28T23:30:00Z"],
        ),
        # ... and falls back at 01:00Z on 2027-10-31: that day is 25 hours, 23:00Z on the 30th to 00:00Z on Nov 1
        (
            "2027-10-31",
            ["2027-10-30T23:30:00Z", "2027-10-31T23:30:00Z"],
            ["2027-10-30T22:30:00Z", "2027-11-01T00:30:00Z"],
        ),
    ],
)
async def test_a_day_across_a_dst_change(
    aiohttp_client: Any, settings: Settings, date: str, inside: list[str], outside: list[str]
) -> None:
    api = await api_in(aiohttp_client, settings, "Europe/London")
    _, ids = await schedule(api, [*inside, *outside])
    assert await day(api, f"date={date}") == ids[:2]
    # a range of whole days includes its last day; times without an offset are London time
    middle = datetime.date.fromisoformat(date)
    before, after = middle - datetime.timedelta(days=1), middle + datetime.timedelta(days=1)
    everything = await day(api, f"from={before}&to={after}")
    assert sorted(everything) == sorted(ids)
    assert await day(api, f"from={date}T00:00:00&to={date}T23:59:59") == ids[:2]


async def test_programme_filters_and_pages(api: Api) -> None:
    movie, ids = await schedule(api, [f"2027-05-0{d}T18:00:00Z" for d in range(1, 8)], title="Paged")
    other, [lone] = await schedule(api, ["2027-05-03T20:00:00Z"], title="Other")
    first = await (await api.client.get("/shows/?from=2027-05-01&to=2027-05-07")).json()
    assert first["count"] == 8 and len(first["results"]) == 5 and first["previous"] is None
    assert first["next"].endswith("page=2") and "from=2027-05-01" in first["next"]
    second = await (await api.client.get("/shows/?from=2027-05-01&to=2027-05-07&page=2")).json()
    assert second["count"] == 8 and second["next"] is None and second["previous"].endswith("page=1")
    listed = [s["id"] for s in first["results"] + second["results"]]
    starts = [s["date_time"] for s in first["results"] + second["results"]]
    assert starts == sorted(starts)
    assert sorted(listed) == sorted([*ids, lone])
    assert await day(api, f"date=2027-05-03&movie={other}") == [lone]
    assert await day(api, f"date=2027-05-03&movie={movie}") == [ids[2]]
    screen = (await (await api.client.get(f"/shows/?date=2027-05-03&movie={other}")).json())["results"][0]["screen_id"]
    assert await day(api, f"from=2027-05-01&to=2027-05-07&screen={screen}") == [lone]
    assert await day(api, "date=2027-06-01") == []
    assert await day(api, "to=2027-05-01&from=2027-05-02") == []  # an empty window lists nothing
    assert await day(api, "date=2027-05-03&from=2027-05-03T19:00:00Z") == [lone]  # each narrows the other
    assert await day(api, "date=9999-12-31") == [] and await day(api, "date=0001-01-01") == []
    for query in ("date=2027-13-01", "from=soon", "to=2027-02-30", "movie=abc", "screen=0"):
        response = await api.client.get(f"/shows/?{query}")
        assert response.status == 400, query
        assert (await response.json())["code"] == "invalid_query"
    assert (await api.client.get("/shows/?date=2027-05-03&page=2")).status == 404
    assert (await api.client.get("/shows/?page=abc")).status == 404
