"""Live events of shows another node decides: one upstream stream per show and owner, shared by every watcher
here.

A watcher on a node that does not own its show used to cost one connection to the owner, all of them from
this node's address, so a crowd of watchers took the connections that forwarded bookings need. Now the first
watcher of a show opens the owner's stream (from a snapshot) and this node keeps a replica of the show's feed
(engine/feed.py's ShowFeed, fed with the owner's events in seq order); later watchers subscribe to the
replica, with their own `since`, backlog and bounded queue, exactly as on the owner. The upstream closes with
its last watcher. When it ends (the owner stopped, or dropped this node as too slow) every watcher's stream
ends as "moved" and the clients reconnect with `since`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web

from engine.feed import KINDS, SeatEvent, ShowFeed, Snapshot, SubscriberTally, Subscription
from web.cluster.forwarding import (
    MAX_ANSWER_BYTES,
    MAX_RELAYED_STREAMS,
    Forwarder,
    OwnerSilent,
    OwnerUnreachable,
    StreamsFull,
    relayed_answer,
)
from web.http.errors import unavailable

MAX_RELAYED_WATCHERS = 50_000  # watchers of relayed shows on this node, across all of them


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE frame of the owner's: `event`, `id` and the JSON `data`."""

    type: str
    seq: int
    data: str


KEEP_ALIVE = object()  # the owner's keep-alive comment


async def frames(content: aiohttp.StreamReader) -> AsyncIterator[Frame | object]:
    """The owner's SSE frames in order; ends when the stream ends or breaks, or sends what owners never send."""
    fields: dict[str, str] = {}
    size = 0
    try:
        async for raw in content:
            size += len(raw)
            line = raw.decode().rstrip("\n")
            if line:
                if size > MAX_ANSWER_BYTES:
                    return
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "" in fields:
                yield KEEP_ALIVE
            elif fields.get("event") == "dropped":
                return
            else:
                yield Frame(fields["event"], int(fields["id"]), fields["data"])
            fields, size = {}, 0
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError, KeyError):
        return  # the owner went away, stopped, or sent what it never sends


@dataclass(frozen=True, slots=True)
class Refusal:
    """The owner's answer to the upstream request when it was not a stream (404, 400, 503 ...), kept as bytes so
    that every watcher waiting for it gets its own copy."""

    status: int
    body: bytes
    headers: dict[str, str]

    @staticmethod
    def of(response: web.Response) -> Refusal:
        assert isinstance(response.body, bytes)
        return Refusal(response.status, response.body, dict(response.headers))

    def response(self) -> web.Response:
        return web.Response(status=self.status, body=self.body, headers=self.headers)


class Relay:
    """One show's upstream from its owner and the replica of its feed that watchers here subscribe to."""

    def __init__(self, hub: RelayHub, show_id: int, owner_url: str) -> None:
        self.show_id = show_id
        self.owner_url = owner_url
        self.feed: ShowFeed | None = None
        self.ended = False
        self.waiting = 0  # watchers waiting for the replica to be ready
        self._hub = hub
        # None once the replica is ready; a Refusal, or OwnerUnreachable when nothing reached the owner.
        self._ready: asyncio.Future[Refusal | OwnerUnreachable | None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"relay-{show_id}")

    async def ready(self) -> Refusal | OwnerUnreachable | None:
        return await asyncio.shield(self._ready)

    def stop(self) -> None:
        self._task.cancel()

    async def ended_now(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        try:
            async with self._hub.forwarder.stream(self.owner_url, f"/shows/{self.show_id}/events") as upstream:
                if upstream.status != 200:
                    self._settle(Refusal.of(await relayed_answer(upstream, self.owner_url)))
                    return
                async for frame in frames(upstream.content):
                    if isinstance(frame, Frame) and not self._apply(frame):
                        return  # out of step with the owner: the watchers reconnect and start again from it
        except StreamsFull:
            self._settle(Refusal.of(unavailable(f"This node relays its limit of shows ({MAX_RELAYED_STREAMS}).", 5)))
        except OwnerUnreachable as unreachable:
            self._settle(unreachable)
        except OwnerSilent:
            self._settle(Refusal.of(unavailable("The node deciding for this show does not answer; try again shortly.")))
        finally:
            self.ended = True
            self._settle(Refusal.of(unavailable("The node deciding for this show ended its stream; try again.")))
            if self.feed is not None:
                self.feed.close()  # each watcher's stream ends: they reconnect with since
            self._hub.forget(self)

    def _apply(self, frame: Frame) -> bool:
        """The owner's next frame into the replica; False when it does not follow from what came before."""
        if self.feed is None:
            if frame.type != "snapshot":
                return False
            snapshot = orjson.loads(frame.data)
            self.feed = ShowFeed(
                self.show_id,
                snapshot["total_seats"],
                snapshot["booked"],
                snapshot["seq"],
                snapshot["held"],
                snapshot["blocked"],
                tally=self._hub.tally,
            )
            self._settle(None)
            return True
        if frame.type == "waitlist_offered" and frame.seq == self.feed.seq + 1:
            offer = orjson.loads(frame.data)
            self.feed.publish_offer(offer["entry_id"], tuple(offer["seats"]), offer["expires_at"])
            return True
        if frame.type not in KINDS or frame.seq != self.feed.seq + 1:
            return False
        seat = orjson.loads(frame.data)["seat"]
        if frame.type == "booked" and seat in self.feed.booked:
            return False
        self.feed.publish(frame.type, seat)
        return True

    def _settle(self, outcome: Refusal | OwnerUnreachable | None) -> None:
        if not self._ready.done():
            self._ready.set_result(outcome)


class RelayHub:
    """The relays of one node: at most one per show (and owner) at a time."""

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.tally = SubscriberTally(MAX_RELAYED_WATCHERS)
        self._relays: dict[int, Relay] = {}

    @property
    def upstreams(self) -> int:
        return len(self._relays)

    async def watch(
        self, show_id: int, owner_url: str, since: int | None
    ) -> tuple[Relay, list[SeatEvent | Snapshot], Subscription] | Refusal:
        """A subscription to the show's replica (opening its upstream if none is open), or the owner's refusal.
        OwnerUnreachable when nothing reached the owner; Busy (from the feed) past the watcher limits."""
        relay = self._relays.get(show_id)
        if relay is None or relay.ended or relay.owner_url != owner_url:
            if relay is not None:
                relay.stop()
            relay = self._relays[show_id] = Relay(self, show_id, owner_url)
        relay.waiting += 1
        try:
            outcome = await relay.ready()
            if isinstance(outcome, OwnerUnreachable):
                raise outcome
            if outcome is not None:
                return outcome
            assert relay.feed is not None
            backlog, subscription = relay.feed.subscribe(since)
            return relay, backlog, subscription
        finally:
            relay.waiting -= 1
            self._stop_if_unwatched(relay)  # a watcher that left while waiting, or was refused as one too many

    def unwatch(self, relay: Relay, subscription: Subscription) -> None:
        if relay.feed is not None:
            relay.feed.unsubscribe(subscription)
        subscription.close()
        self._stop_if_unwatched(relay)

    def _stop_if_unwatched(self, relay: Relay) -> None:
        if relay.waiting == 0 and (relay.feed is None or relay.feed.subscribers == 0) and not relay.ended:
            relay.stop()  # the last watcher left: the upstream closes
            self.forget(relay)

    def forget(self, relay: Relay) -> None:
        if self._relays.get(relay.show_id) is relay:
            del self._relays[relay.show_id]

    async def close(self) -> None:
        relays = list(self._relays.values())
        for relay in relays:
            relay.stop()
        for relay in relays:
            await relay.ended_now()


RELAYS = web.AppKey("relays", RelayHub)
