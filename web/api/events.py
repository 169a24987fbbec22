"""Live seats: the committed seat map, and its changes as WebSocket messages or Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from engine.errors import NotOwner
from engine.feed import SeatEvent, Snapshot, Subscription
from engine.seats import Outcome
from web import schemas
from web.cluster.forwarding import RELAYED, OwnerUnreachable
from web.cluster.relays import RELAYS, Refusal, Relay
from web.context import ENGINE, SETTINGS
from web.http.body import load_body
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.http.refusals import refuse_seats
from web.security.auth import require_admin

routes = web.RouteTableDef()
MAX_SEQ = 2**63 - 1
KEEPALIVE_SECONDS = 15.0  # an idle SSE stream writes a comment this often, which also detects a gone client
# Clients have nothing to say on the event stream, so a message is refused (close 1009, before any payload is
# buffered) above this size: with aiohttp's default of 4 MiB each open socket could make the server hold 4 MB of
# an unfinished frame. What the server holds per WebSocket is then bounded by this plus aiohttp's 64 KiB reader
# queue, and in total by that times CINEMA_MAX_CONNECTIONS.
WEBSOCKET_MAX_MESSAGE_BYTES = 4096


@docs(tags=["live"], summary="Every seat's state, from memory (no database read once the show is loaded)", security=[])
@response_schema(
    schemas.SeatMap, 200, description="Booked, held and blocked seats; every other seat in 1..total_seats is free"
)
@errors({404: "No such show"})
@routes.get(r"/shows/{id:\d+}/seats/")
async def seat_map(request: web.Request) -> web.Response:
    return json_response(await _seat_map(request, schemas.path_id(request)))


async def _seat_map(request: web.Request, show_id: int) -> dict[str, Any]:
    engine = request.app[ENGINE]
    snapshot = await engine.seat_map(show_id)
    plan = engine.plan(show_id)
    answer = {**snapshot.as_dict(), "rows": plan.layout.as_json() if plan.layout is not None else None}
    answer["max_seats_per_user"] = request.app[SETTINGS].max_seats_per_user  # what a seat picker may offer
    if plan.prices is not None:
        answer["prices"] = plan.prices.as_json()
    return answer


@docs(tags=["live"], summary="Block seats (house seats, broken seats): they cannot be booked or held (admin)")
@request_schema(schemas.BlockRequest, example={"seat_numbers": [1, 2]})
@response_schema(schemas.SeatMap, 200, description="The seat map after the change")
@errors(
    401,
    403,
    {
        400: "Invalid body or seat outside 1..total_seats",
        404: "No such show",
        409: "Some seats are booked or held (listed in `seats`)",
    },
)
@routes.post(r"/shows/{id:\d+}/block/")
async def block(request: web.Request) -> web.Response:
    return await _set_blocked(request, True)


@docs(tags=["live"], summary="Unblock seats (admin)")
@request_schema(schemas.BlockRequest, example={"seat_numbers": [1, 2]})
@response_schema(schemas.SeatMap, 200, description="The seat map after the change")
@errors(401, 403, {400: "Invalid body or seat outside 1..total_seats", 404: "No such show"})
@routes.post(r"/shows/{id:\d+}/unblock/")
async def unblock(request: web.Request) -> web.Response:
    return await _set_blocked(request, False)


async def _set_blocked(request: web.Request, blocked: bool) -> web.Response:
    admin_id = await require_admin(request)
    show_id = schemas.path_id(request)
    seats = tuple((await load_body(request, schemas.BlockRequest))["seat_numbers"])
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
        "`dropped`) and should reconnect with `since`. In a cluster any node serves the stream (relayed from "
        "the show's owner); when the owner changes the stream ends (WebSocket close 1012): reconnect with `since`. "
        "The stream ignores what clients send; a message over 4 KB closes it (WebSocket close 1009)."
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
@errors(
    {
        400: "since is not a sequence number",
        404: "No such show",
        503: "Too many watchers of this show (see Retry-After)",
    }
)
@routes.get(r"/shows/{id:\d+}/events")
async def events(request: web.Request) -> web.StreamResponse:
    show_id = schemas.path_id(request)
    since = _since(request)
    engine = request.app[ENGINE]
    try:
        backlog, subscription = await engine.watch(show_id, since)
    except NotOwner as elsewhere:
        if RELAYS not in request.app or request.get(RELAYED):
            raise  # the forwarding middleware answers 503: never a second hop
        try:
            return await _relay(request, elsewhere, since)
        except OwnerUnreachable:  # nothing reached it: the database says who owns the show now (maybe this node)
            engine.forget_owner(show_id)
            backlog, subscription = await engine.watch(show_id, since)
    try:
        return await _serve(request, _LocalSource(backlog, subscription))
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


@dataclass(frozen=True, slots=True)
class Frame:
    """One event as both transports send it: SSE `id`/`event` lines and the JSON a WebSocket message carries."""

    type: str
    seq: int
    data: str

    @staticmethod
    def of(item: SeatEvent | Snapshot) -> Frame:
        data = item.as_dict()
        return Frame(data["type"], data["seq"], orjson.dumps(data).decode())


KEEP_ALIVE = object()  # a source had nothing to say for KEEPALIVE_SECONDS


class _Source(Protocol):
    """What a stream sends: frames in seq order, then None; `ending` says why it ended."""

    ending: str  # "closed" (shutdown or the client left), "dropped" (too slow), "moved" (the owner went away)

    async def next(self) -> Frame | object | None: ...

    def close(self) -> None: ...


class _LocalSource:
    """A show decided here: its backlog, then its subscription."""

    def __init__(self, backlog: list[SeatEvent | Snapshot], subscription: Subscription) -> None:
        self._backlog = deque(backlog)
        self._subscription = subscription
        self.ending = "closed"

    async def next(self) -> Frame | object | None:
        if self._backlog:
            return Frame.of(self._backlog.popleft())
        try:
            event = await asyncio.wait_for(self._subscription.next(), KEEPALIVE_SECONDS)
        except TimeoutError:
            return KEEP_ALIVE
        if event is None and self._subscription.dropped:
            self.ending = "dropped"
        return None if event is None else Frame.of(event)

    def close(self) -> None:
        self._subscription.close()


class _ReplicaSource(_LocalSource):
    """A show decided by another node: this node's replica of its feed (web/cluster/relays.py)."""

    def __init__(self, relay: Relay, backlog: list[SeatEvent | Snapshot], subscription: Subscription) -> None:
        super().__init__(backlog, subscription)
        self._relay = relay

    async def next(self) -> Frame | object | None:
        frame = await super().next()
        if frame is None and self._relay.ended and self.ending == "closed":
            self.ending = "moved"  # the owner's stream ended: reconnect with since
        return frame


async def _relay(request: web.Request, elsewhere: NotOwner, since: int | None) -> web.StreamResponse:
    """Live events of a show another node decides, from this node's replica of its feed, in seq order. When the
    owner goes away the stream ends (WebSocket close 1012); the client reconnects with `since`."""
    hub = request.app[RELAYS]
    watched = await hub.watch(elsewhere.show_id, elsewhere.owner_url, since)
    if isinstance(watched, Refusal):  # 404, 400, 503 ...: the owner's answer as it is
        if watched.status == 503:
            request.app[ENGINE].forget_owner(elsewhere.show_id)
        return watched.response()
    relay, backlog, subscription = watched
    try:
        return await _serve(request, _ReplicaSource(relay, backlog, subscription))
    finally:
        hub.unwatch(relay, subscription)


async def _serve(request: web.Request, source: _Source) -> web.StreamResponse:
    websocket = web.WebSocketResponse(heartbeat=30, max_msg_size=WEBSOCKET_MAX_MESSAGE_BYTES)
    if websocket.can_prepare(request).ok:
        return await _websocket(request, websocket, source)
    return await _server_sent_events(request, source)


async def _websocket(request: web.Request, websocket: web.WebSocketResponse, source: _Source) -> web.WebSocketResponse:
    await websocket.prepare(request)

    async def until_client_leaves() -> None:
        async for message in websocket:  # clients have nothing to say; this only notices the close
            if message.type == WSMsgType.ERROR:
                break
        source.close()

    reader = asyncio.create_task(until_client_leaves())
    try:
        while (frame := await source.next()) is not None:
            if isinstance(frame, Frame):
                await websocket.send_str(frame.data)
        if source.ending == "dropped":
            await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow; reconnect with ?since=N")
        elif source.ending == "moved":
            await websocket.close(code=WSCloseCode.SERVICE_RESTART, message=b"the show moved; reconnect with ?since=N")
    except ConnectionResetError:
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await websocket.close()
    return websocket


async def _server_sent_events(request: web.Request, source: _Source) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
        while (frame := await source.next()) is not None:
            if isinstance(frame, Frame):
                await response.write(f"id: {frame.seq}\nevent: {frame.type}\ndata: {frame.data}\n\n".encode())
            else:
                await response.write(b": keep-alive\n\n")
        if source.ending == "dropped":
            await response.write(b'event: dropped\ndata: {"detail": "too slow; reconnect with since"}\n\n')
    except (ConnectionResetError, ConnectionError):
        pass
    return response
