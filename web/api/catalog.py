"""Movies and their shows: public listings, and creation by admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from engine.layout import Layout, Prices, plain_layout
from engine.service import BookingEngine
from storage.repository import MovieNotFound, ScheduleClash, ScreenNotFound, ScreenSizeDiffers, ShowListing
from web import schemas
from web.context import ENGINE, REPOSITORY, SETTINGS
from web.http.body import load_body
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.http.paging import paged
from web.schemas.catalog import show_brief
from web.security.auth import require_admin

routes = web.RouteTableDef()
SHOW_EXAMPLE = {
    "screen_name": "Hall 2",
    "date_time": "2030-01-01T20:00:00Z",
    "rows": [{"label": "A", "seats": 12}, {"label": "B", "seats": 14}],
}


def _listing(engine: BookingEngine, item: ShowListing) -> dict[str, Any]:
    entry = {**show_brief(item.show), "available_seats": engine.free_seats(item.show, item.taken)}
    if item.prices is not None:
        entry["prices"] = item.prices.as_json()
    if item.screen_id is not None:
        entry["screen_id"] = item.screen_id
    return entry


@docs(tags=["movies"], summary="List movies, a page at a time", security=[])
@querystring_schema(schemas.PageQuery)
@response_schema(schemas.MoviePage, 200, description="A page of movies")
@errors({404: "Invalid page"})
@routes.get("/movies/")
async def list_movies(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    page = await paged(
        request,
        settings.public_url,
        settings.page_size,
        request.app[REPOSITORY].movies_page,
        lambda m: {"id": m.id, "title": m.title, "duration_minutes": m.duration_minutes},
    )
    return json_response(page)


@docs(tags=["movies"], summary="Add a movie (admin)")
@request_schema(schemas.MovieRequest, example={"title": "The Late Show", "duration_minutes": 104})
@response_schema(schemas.Movie, 201, description="Created")
@errors({400: "Invalid input"})
@errors(401, 403)
@routes.post("/movies/")
async def create_movie(request: web.Request) -> web.Response:
    await require_admin(request)
    data = await load_body(request, schemas.MovieRequest)
    movie = await request.app[REPOSITORY].create_movie(data["title"], data["duration_minutes"])
    return json_response({"id": movie.id, "title": movie.title, "duration_minutes": movie.duration_minutes}, status=201)


@docs(tags=["movies"], summary="A movie with its shows and their free seats", security=[])
@response_schema(schemas.MovieShows, 200, description="The movie and its shows")
@errors({404: "No such movie"})
@routes.get(r"/movies/{id:\d+}/shows/")
async def movie_shows(request: web.Request) -> web.Response:
    repository = request.app[REPOSITORY]
    movie = await repository.movie(schemas.path_id(request))
    if movie is None:
        raise fail("unknown_movie")
    shows = await repository.shows_of_movie(movie.id)
    engine = request.app[ENGINE]
    return json_response(
        {
            "id": movie.id,
            "title": movie.title,
            "duration_minutes": movie.duration_minutes,
            "shows": [_listing(engine, item) for item in shows],
        }
    )


@docs(
    tags=["movies"],
    summary="Add a show of a movie (admin)",
    description="On a screen (`screen_id`): the show takes the screen's layout and must not overlap another show "
    "there (the film's duration plus the cleaning gap). The seed's way (`screen_name` with `total_seats` or "
    "`rows`) names the screen: an existing screen of that name (with as many seats; its layout unless `rows` "
    "are given), or a new one with a plain layout; the no-overlap rule holds either way. `prices` (minor units "
    "per seat category, with `currency`) must price every category of the layout.",
)
@request_schema(schemas.ShowRequest, example=SHOW_EXAMPLE)
@response_schema(schemas.CreatedShow, 201, description="Created")
@errors(
    {
        400: "Invalid input, a show in the past, or prices missing a category",
        404: "No such movie or screen",
        409: "Overlaps another show on the screen (code schedule_clash)",
    }
)
@errors(401, 403)
@routes.post(r"/movies/{id:\d+}/shows/")
async def create_show(request: web.Request) -> web.Response:
    await require_admin(request)
    movie_id = schemas.path_id(request)
    data = await load_body(request, schemas.ShowRequest)
    repository = request.app[REPOSITORY]
    movie = await repository.movie(movie_id)
    if movie is None:
        raise fail("unknown_movie")
    layout: Layout | None = None
    screen_id = data.get("screen_id")
    if screen_id is not None:
        screen = await repository.screen(screen_id)
        if screen is None:
            raise fail("unknown_screen")
        layout, screen_name, total_seats = screen.layout, screen.name, screen.layout.total_seats
    else:
        screen_name, total_seats = data["screen_name"], data["total_seats"]
        if data.get("rows"):
            layout = plain_layout([(row["label"], row["seats"]) for row in data["rows"]])
    prices = None
    if "prices" in data:
        prices = Prices(data["prices"], data["currency"])
        missing = sorted((layout.categories if layout else {"standard"}) - set(prices.amounts))
        if missing:
            raise fail("unpriced", f"Prices are missing for seat categories: {', '.join(missing)}.")
    cleaning = timedelta(minutes=request.app[SETTINGS].cleaning_minutes)
    try:
        show, screen_id = await repository.schedule_show(
            movie_id,
            screen_name,
            data["date_time"],
            total_seats,
            layout,
            screen_id=screen_id,
            prices=prices,
            cleaning=cleaning,
        )
    except MovieNotFound:
        raise fail("unknown_movie") from None
    except ScreenNotFound:
        raise fail("unknown_screen") from None
    except ScreenSizeDiffers as differs:
        detail = f"Screen {differs.name} has {differs.total_seats} seats; a show on it has as many."
        raise fail("invalid_input", detail, errors={"total_seats": [detail]}) from None
    except ScheduleClash as clash:
        raise fail(
            "schedule_clash",
            f"Screen {screen_name} is taken by show {clash.show_id} from {clash.starts.isoformat()} to "
            f"{clash.ends.isoformat()}, plus {cleaning.seconds // 60} minutes for cleaning.",
            clash={"show_id": clash.show_id, "starts": clash.starts.isoformat(), "ends": clash.ends.isoformat()},
        ) from None
    answer = {**show_brief(show), "movie": movie_id, "available_seats": show.total_seats}
    if prices is not None:
        answer["prices"] = prices.as_json()
    answer["screen_id"] = screen_id
    return json_response(answer, status=201)
