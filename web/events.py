"""Live seats: the committed seat map, and its changes as WebSocket messages or Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from engine.feed import SeatEvent, Snapshot, Subscription
from engine.seats import Outcome
from web import schemas
from web.bookings import refuse_seats
from web.catalog import require_admin
from web.context import ENGINE
from web.errors import fail
from web.jsonio import json_response

routes = web.RouteTableDef()
MAX_SEQ = 2**63 - 1
KEEPALIVE_SECONDS = 15.0  # an idle SSE stream writes a comment this often, which also detects a gone client


@docs(tags=["live"], summary="Every seat's state, from memory (no database read once the show is loaded)", security=[])
@response_schema(
    schemas.SeatMap, 200, description="Booked, held and blocked seats; every other seat in 1..total_seats is free"
)
@response_schema(schemas.Error, 404, description="No such show")
@routes.get(r"/shows/{id:\d+}/seats/")
async def seat_map(request: web.Request) -> web.Response:
    return json_response(await _seat_map(request, schemas.path_id(request)))


async def _seat_map(request: web.Request, show_id: int) -> dict[str, Any]:
    engine = request.app[ENGINE]
    snapshot = await engine.seat_map(show_id)
    plan = engine.plan(show_id)
    answer = {**snapshot.as_dict(), "rows": plan.layout.as_json() if plan.layout is not None else None}
    if plan.prices is not None:
        answer["prices"] = plan.prices.as_json()
    return answer


@docs(tags=["live"], summary="Block seats (house seats, broken seats): they cannot be booked or held (admin)")
@request_schema(schemas.BlockRequest, example={"seat_numbers": [1, 2]})
@response_schema(schemas.SeatMap, 200, description="The seat map after the change")
@response_schema(schemas.Error, 400, description="Invalid body or seat outside 1..total_seats")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 403, description="Not an admin")
@response_schema(schemas.Error, 404, description="No such show")
@response_schema(schemas.Error, 409, description="Some seats are booked or held (listed in `seats`)")
@routes.post(r"/shows/{id:\d+}/block/")
async def block(request: web.Request) -> web.Response:
    return await _set_blocked(request, True)


@docs(tags=["live"], summary="Unblock seats (admin)")
@request_schema(schemas.BlockRequest, example={"seat_numbers": [1, 2]})
@response_schema(schemas.SeatMap, 200, description="The seat map after the change")
@response_schema(schemas.Error, 400, description="Invalid body or seat outside 1..total_seats")
@response_schema(schemas.Error, 401, description="Not authenticated")
@response_schema(schemas.Error, 403, description="Not an admin")
@response_schema(schemas.Error, 404, description="No such show")
@routes.post(r"/shows/{id:\d+}/unblock/")
async def unblock(request: web.Request) -> web.Response:
    return await _set_blocked(request, False)


async def _set_blocked(request: web.Request, blocked: bool) -> web.Response:
    admin_id = await require_admin(request)
    show_id = schemas.path_id(request)
    seats = tuple((await schemas.load_body(request, schemas.BlockRequest))["seat_numbers"])
    reply = await request.app[ENGINE].set_blocked(show_id, seats, blocked, admin_id)
    if reply.outcome is not Outcome.BLOCKING_CHANGED:
        raise await refuse_seats(request, show_id, reply.outcome, reply.seats, seats)
    return json_response(await _seat_map(request, show_id))


@docs(
    tags=["live"],
    summary="Live seat changes: a WebSocket when upgraded, else Server-Sent Events",
    description=(
        "First the current seat map (`snapshot`), or with `?since=N` (or SSE's Last-Event-ID) only the changes "
        "after N when they are still in memory; then every committed change as `{type, seq, seat}` with type "
        "`booked`, `cancelled`, `held`, `released`, `blocked` or `unblocked`. "
        "A subscriber that falls behind is dropped (WebSocket close 1013, SSE event "
        "`dropped`) and should reconnect with `since`."
    ),
    security=[],
)
@querystring_schema(schemas.EventsQuery)
@docs(
    responses={
        "200": {
            "description": "Server-Sent Events (`id`, `event`, `data` with a JSON seat map or change), or a WebSocket",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
)
@response_schema(schemas.Error, 400, description="since is not a sequence number")
@response_schema(schemas.Error, 404, description="No such show")
@response_schema(schemas.Error, 503, description="Too many watchers of this show (see Retry-After)")
@routes.get(r"/shows/{id:\d+}/events")
async def events(request: web.Request) -> web.StreamResponse:
    show_id = schemas.path_id(request)
    since = _since(request)
    engine = request.app[ENGINE]
    backlog, subscription = await engine.watch(show_id, since)
    try:
        websocket = web.WebSocketResponse(heartbeat=30)
        if websocket.can_prepare(request).ok:
            return await _websocket(request, websocket, backlog, subscription)
        return await _server_sent_events(request, backlog, subscription)
    finally:
        engine.unwatch(show_id, subscription)


def _since(request: web.Request) -> int | None:
    raw = request.query.get("since") or request.headers.get("Last-Event-ID")
    if raw is None:
        return None
    since = schemas.canonical_int(raw, MAX_SEQ)
    if since is None:
        raise fail("invalid_query", "since must be an event sequence number.")
    return since


def _encode(item: SeatEvent | Snapshot) -> str:
    return orjson.dumps(item.as_dict()).decode()


def _sse_frame(item: SeatEvent | Snapshot) -> bytes:
    data = item.as_dict()
    return f"id: {data['seq']}\nevent: {data['type']}\ndata: {orjson.dumps(data).decode()}\n\n".encode()


async def _websocket(
    request: web.Request,
    websocket: web.WebSocketResponse,
    backlog: list[SeatEvent | Snapshot],
    subscription: Subscription,
) -> web.WebSocketResponse:
    await websocket.prepare(request)

    async def until_client_leaves() -> None:
        async for message in websocket:  # clients have nothing to say; this only notices the close
            if message.type == WSMsgType.ERROR:
                break
        subscription.close()

    reader = asyncio.create_task(until_client_leaves())
    try:
        for item in backlog:
            await websocket.send_str(_encode(item))
        while (event := await subscription.next()) is not None:
            await websocket.send_str(_encode(event))
        if subscription.dropped:
            await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow; reconnect with ?since=N")
    except ConnectionResetError:
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await websocket.close()
    return websocket


async def _server_sent_events(
    request: web.Request, backlog: list[SeatEvent | Snapshot], subscription: Subscription
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
        for item in backlog:
            await response.write(_sse_frame(item))
        while True:
            try:
                event = await asyncio.wait_for(subscription.next(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            await response.write(_sse_frame(event))
        if subscription.dropped:
            await response.write(b'event: dropped\ndata: {"detail": "too slow; reconnect with since"}\n\n')
    except (ConnectionResetError, ConnectionError):
        pass
    return response
