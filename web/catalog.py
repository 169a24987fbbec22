"""Movies and their shows: public listings, and creation by admins."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from engine.ports import ShowInfo
from engine.service import BookingEngine
from web import schemas
from web.auth import authenticate
from web.context import ENGINE, REPOSITORY, SETTINGS
from web.errors import fail
from web.jsonio import json_response

routes = web.RouteTableDef()
SHOW_EXAMPLE = {
    "screen_name": "Hall 2",
    "date_time": "2030-01-01T20:00:00Z",
    "rows": [{"label": "A", "seats": 12}, {"label": "B", "seats": 14}],
}
ADMIN_ERRORS = {
    "401": {"description": "Not authenticated"},
    "403": {"description": "Not an admin"},
}


@functools.lru_cache(maxsize=10_000)
def show_brief(show: ShowInfo) -> dict[str, Any]:
    """Shared between responses (never mutated): every booking of a show repeats the same object."""
    return {
        "id": show.id,
        "screen_name": show.screen_name,
        "date_time": show.date_time.isoformat(),
        "total_seats": show.total_seats,
    }


@functools.lru_cache(maxsize=10_000)
def show_brief_json(show: ShowInfo) -> orjson.Fragment:
    """show_brief encoded once per show: a booking answer embeds it instead of encoding it again each time."""
    return orjson.Fragment(orjson.dumps(show_brief(show)))


async def require_admin(request: web.Request) -> int:
    """The admin's user id; 401 or 403 otherwise."""
    principal = await authenticate(request)
    user = await request.app[REPOSITORY].user_by_id(principal.user_id)
    if user is None or not user.is_admin:
        raise fail("permission_denied")
    return user.id


def _page_url(request: web.Request, page: int) -> str:
    """Absolute, as the Django service answered, but on the configured public URL or the address this server
    listens on: never the client's Host header, which would let anyone plant links in a cached page."""
    base = request.app[SETTINGS].public_url
    if not base:
        host, port = request.transport.get_extra_info("sockname")[:2] if request.transport else ("localhost", 80)
        base = f"{request.scheme}://{f'[{host}]' if ':' in host else host}:{port}"
    return base + str(request.rel_url.update_query(page=page))


@docs(tags=["movies"], summary="List movies, a page at a time", security=[])
@querystring_schema(schemas.PageQuery)
@response_schema(schemas.MoviePage, 200, description="A page of movies")
@response_schema(schemas.Error, 404, description="Invalid page")
@routes.get("/movies/")
async def list_movies(request: web.Request) -> web.Response:
    page = schemas.load_page(request)
    size = request.app[SETTINGS].page_size
    count, movies = await request.app[REPOSITORY].movies_page((page - 1) * size, size)
    if page > 1 and not movies:
        raise fail("invalid_page")
    return json_response(
        {
            "count": count,
            "next": _page_url(request, page + 1) if page * size < count else None,
            "previous": _page_url(request, page - 1) if page > 1 else None,
            "results": [{"id": m.id, "title": m.title, "duration_minutes": m.duration_minutes} for m in movies],
        }
    )


@docs(tags=["movies"], summary="Add a movie (admin)")
@request_schema(schemas.MovieRequest, example={"title": "The Late Show", "duration_minutes": 104})
@response_schema(schemas.Movie, 201, description="Created")
@response_schema(schemas.Error, 400, description="Invalid input")
@docs(responses=ADMIN_ERRORS)
@routes.post("/movies/")
async def create_movie(request: web.Request) -> web.Response:
    await require_admin(request)
    data = await schemas.load_body(request, schemas.MovieRequest)
    movie = await request.app[REPOSITORY].create_movie(data["title"], data["duration_minutes"])
    return json_response({"id": movie.id, "title": movie.title, "duration_minutes": movie.duration_minutes}, status=201)


@docs(tags=["movies"], summary="A movie with its shows and their free seats", security=[])
@response_schema(schemas.MovieShows, 200, description="The movie and its shows")
@response_schema(schemas.Error, 404, description="No such movie")
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
            "shows": [
                {**show_brief(show), "available_seats": _available(engine, show, taken)} for show, taken in shows
            ],
        }
    )


def _available(engine: BookingEngine, show: ShowInfo, taken: int) -> int:
    """Free seats as the seat map counts them (not booked, held or blocked): from the show's actor when it is in
    memory, so both answers agree; from the database otherwise."""
    free = engine.committed_free_seats(show.id)
    if free is None:
        free = show.total_seats - taken
    assert 0 <= free <= show.total_seats, (show.id, free)
    return free


@docs(tags=["movies"], summary="Add a show of a movie (admin)")
@request_schema(schemas.ShowRequest, example=SHOW_EXAMPLE)
@response_schema(schemas.CreatedShow, 201, description="Created")
@response_schema(schemas.Error, 400, description="Invalid input")
@response_schema(schemas.Error, 404, description="No such movie")
@docs(responses=ADMIN_ERRORS)
@routes.post(r"/movies/{id:\d+}/shows/")
async def create_show(request: web.Request) -> web.Response:
    await require_admin(request)
    movie_id = schemas.path_id(request)
    data = await schemas.load_body(request, schemas.ShowRequest)
    repository = request.app[REPOSITORY]
    if await repository.movie(movie_id) is None:
        raise fail("unknown_movie")
    rows = [(row["label"], row["seats"]) for row in data["rows"]] if data.get("rows") else None
    show = await repository.create_show(movie_id, data["screen_name"], data["date_time"], data["total_seats"], rows)
    return json_response({**show_brief(show), "movie": movie_id, "available_seats": show.total_seats}, status=201)
